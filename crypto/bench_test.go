package crypto

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1400}

func BenchmarkSeal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			o, _ := newPair(b, testSPI, testKey(1))
			buf := withRoom(payload(n))
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := o.Seal(buf, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen opens one datagram over and over: each round restores the
// ciphertext (a copy of the datagram) and empties the replay window, which
// the measurement includes.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			o, in := newPair(b, testSPI, testKey(1))
			sealed := seal(b, o, payload(n))
			d := make([]byte, len(sealed))
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(d, sealed)
				in.window = ReplayWindow{}
				if _, err := in.Open(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplayWindow measures Check and Update of in-order sequence
// numbers, the common case.
func BenchmarkReplayWindow(b *testing.B) {
	var w ReplayWindow
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		s, ok := w.Check(uint32(seq))
		if !ok || s != seq {
			b.Fatalf("Check(%d) = (%d, %v)", seq, s, ok)
		}
		w.Update(s)
	}
}
