package crypto

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// fuzzKey is the fixed SA the fuzz tests open with.
var fuzzKey = testKey(0x77)

func FuzzOpen(f *testing.F) {
	o, _ := newPair(f, testSPI, fuzzKey)
	for _, n := range []int{0, 1, 2, 3, 14, 64} {
		d := seal(f, o, payload(n))
		f.Add(d)
		f.Add(d[:len(d)-1])
	}
	f.Add(sealRaw(f, fuzzKey, testSPI, 100, withTrailer(nil, 255, NextHeader)))
	f.Add(sealRaw(f, fuzzKey, testSPI, 101, []byte{200, NextHeader}))
	f.Add(sealRaw(f, fuzzKey, testSPI, 1<<32+5, withTrailer(payload(5), 1, NextHeader)))
	f.Add([]byte{})
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 1, 0})
	f.Add(make([]byte, minDatagram))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, in := newPair(t, testSPI, fuzzKey)
		in.window.Update(50) // so that old and new sequence numbers both occur
		orig := bytes.Clone(data)
		got, err := in.Open(data)
		if err != nil {
			if got != nil {
				t.Fatalf("Open returned %d bytes with error %v; want nil", len(got), err)
			}
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrReplay) && !errors.Is(err, ErrAuth) {
				t.Fatalf("Open error %v; want ErrShort, ErrReplay or ErrAuth", err)
			}
			return
		}
		// Only datagrams that were really sealed open: check it against the
		// independent construction.
		if len(got) > 0 && &got[0] != &data[HeaderLen] {
			t.Fatal("payload is not at HeaderLen in the datagram")
		}
		h := Header(orig)
		want := sealRaw(t, fuzzKey, testSPI, h.IV(), data[HeaderLen:len(data)-ICVLen])
		if !bytes.Equal(want, orig) {
			t.Fatalf("Open accepted a datagram that the raw AEAD did not produce")
		}
		if _, err := in.Open(orig); !errors.Is(err, ErrReplay) {
			t.Fatalf("second Open error %v; want ErrReplay", err)
		}
	})
}

func FuzzSealOpen(f *testing.F) {
	f.Add([]byte{}, uint64(0))
	f.Add(payload(1), uint64(1))
	f.Add(payload(63), uint64(1<<32-1))
	f.Add(payload(1400), uint64(1<<32))
	f.Add(payload(3), uint64(math.MaxUint64-1))
	f.Add(payload(3), uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, p []byte, last uint64) {
		o, in := newPair(t, testSPI, fuzzKey)
		o.seq = last // as if last datagrams had been sent and received
		in.window.Update(last)
		buf := withRoom(p)
		m, err := o.Seal(buf, len(p))
		if last == math.MaxUint64 {
			if !errors.Is(err, ErrSeqExhausted) {
				t.Fatalf("Seal after 2^64-1: %v; want ErrSeqExhausted", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Seal(%d bytes): %v", len(p), err)
		}
		if m != SealedLen(len(p)) || Header(buf).IV() != last+1 {
			t.Fatalf("Seal = %d bytes, IV %#x; want %d, %#x", m, Header(buf).IV(), SealedLen(len(p)), last+1)
		}
		got, err := in.Open(buf[:m])
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Open = (%x, %v); want %x", got, err, p)
		}
	})
}
