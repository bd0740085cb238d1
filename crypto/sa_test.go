package crypto

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	for n := 0; n <= 1600; n++ {
		p := payload(n)
		d := seal(t, o, p)
		if want := HeaderLen + n + padLen(n) + trailerLen + ICVLen; len(d) != want || len(d) > n+Overhead {
			t.Fatalf("n=%d: datagram is %d bytes; want %d (at most n+Overhead)", n, len(d), want)
		}
		if (len(d)-HeaderLen-ICVLen)%4 != 0 {
			t.Fatalf("n=%d: ciphertext of %d bytes is not a multiple of 4", n, len(d)-HeaderLen-ICVLen)
		}
		if n >= 16 && bytes.Contains(d, p[:16]) {
			t.Fatalf("n=%d: datagram contains the plaintext", n)
		}
		got, err := in.Open(d)
		if err != nil {
			t.Fatalf("n=%d: Open: %v", n, err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: Open = % x; want % x", n, got, p)
		}
		if n > 0 && &got[0] != &d[HeaderLen] {
			t.Fatalf("n=%d: Open copied the payload; want a subslice of the datagram", n)
		}
	}
}

func TestSealPadding(t *testing.T) {
	// Every pad length 0..3 and its exact trailer, seen through the raw AEAD.
	for n, wantPad := range []int{2, 1, 0, 3, 2, 1, 0, 3} {
		t.Run("", func(t *testing.T) {
			if got := padLen(n); got != wantPad {
				t.Fatalf("padLen(%d) = %d; want %d", n, got, wantPad)
			}
			key := testKey(9)
			o, _ := newPair(t, testSPI, key)
			d := seal(t, o, payload(n))
			want := sealRaw(t, key, testSPI, 1, withTrailer(payload(n), wantPad, NextHeader))
			if !bytes.Equal(d, want) {
				t.Fatalf("n=%d: Seal = % x; want % x", n, d, want)
			}
		})
	}
}

// TestSealKnownAnswer checks Seal's output byte for byte against a datagram
// built from crypto/cipher directly, by RFC 4303 and RFC 4106: header
// fields, nonce = salt || IV, AAD = SPI || Seq high || Seq low, trailer.
func TestSealKnownAnswer(t *testing.T) {
	key := testKey(0x40)
	const spi = 0xc0ffee01
	tests := []struct {
		name string
		seq  uint64 // the sequence number Seal is to use
		n    int
	}{
		{"first", 1, 60},
		{"second", 2, 1},
		{"before wrap", 1<<32 - 1, 64},
		{"after wrap", 1 << 32, 64},
		{"high bits", 0x0102030405060708, 1400},
		{"last", math.MaxUint64, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newPair(t, spi, key)
			o.seq = tt.seq - 1
			p := payload(tt.n)
			d := seal(t, o, p)
			want := sealRaw(t, key, spi, tt.seq, withTrailer(p, padLen(tt.n), NextHeader))
			if !bytes.Equal(d, want) {
				t.Fatalf("Seal = % x\nwant   % x", d, want)
			}
			h := Header(d)
			if h.SPI() != spi || h.SeqLow() != uint32(tt.seq) || h.IV() != tt.seq {
				t.Fatalf("header = (SPI %#x, seq low %#x, IV %#x); want (%#x, %#x, %#x)", h.SPI(), h.SeqLow(), h.IV(), uint32(spi), uint32(tt.seq), tt.seq)
			}
		})
	}
}

func TestSealHeaderAndSequence(t *testing.T) {
	o, _ := newPair(t, testSPI, testKey(1))
	if o.SPI() != testSPI || o.Seq() != 0 {
		t.Fatalf("new Outbound: SPI %#x, Seq %d; want %#x, 0", o.SPI(), o.Seq(), testSPI)
	}
	for want := uint64(1); want <= 5; want++ {
		d := seal(t, o, payload(20))
		wantHdr := []byte{0x12, 0x34, 0xab, 0xcd, 0, 0, 0, byte(want), 0, 0, 0, 0, 0, 0, 0, byte(want)}
		if got := d[:HeaderLen]; !bytes.Equal(got, wantHdr) {
			t.Fatalf("header = % x; want % x", got, wantHdr)
		}
		if o.Seq() != want {
			t.Fatalf("Seq() = %d; want %d", o.Seq(), want)
		}
	}
}

func TestSealErrors(t *testing.T) {
	o, _ := newPair(t, testSPI, testKey(1))
	p := payload(61)
	tests := []struct {
		name string
		buf  []byte
		n    int
	}{
		{"no room for ICV", make([]byte, HeaderLen+61, SealedLen(61)-1), 61},
		{"no room at all", make([]byte, 10), 0},
		{"n beyond cap", make([]byte, 100), 1 << 40},
		{"negative n", make([]byte, 100), -1},
		{"nil", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := o.Seal(tt.buf, tt.n); !errors.Is(err, ErrNoRoom) {
				t.Fatalf("Seal = (%d, %v); want ErrNoRoom", m, err)
			}
		})
	}
	if o.Seq() != 0 {
		t.Fatalf("failed Seals used sequence numbers: Seq() = %d; want 0", o.Seq())
	}
	// Room in capacity beyond len is enough.
	buf := make([]byte, HeaderLen+len(p), SealedLen(len(p)))
	if _, err := o.Seal(buf, len(p)); err != nil {
		t.Fatalf("Seal with exact capacity: %v", err)
	}
}

func TestSealExhausted(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	o.seq = math.MaxUint64 - 1
	in.window.Update(math.MaxUint64 - 2)
	last := seal(t, o, payload(30))
	if got, err := in.Open(last); err != nil || !bytes.Equal(got, payload(30)) {
		t.Fatalf("Open(seq 2^64-1) = (%d bytes, %v); want the payload", len(got), err)
	}
	buf := withRoom(payload(30))
	if m, err := o.Seal(buf, 30); !errors.Is(err, ErrSeqExhausted) {
		t.Fatalf("Seal after 2^64-1 = (%d, %v); want ErrSeqExhausted", m, err)
	}
	if o.Seq() != math.MaxUint64 {
		t.Fatalf("Seq() = %#x; want 2^64-1", o.Seq())
	}
}

func TestNewSAInvalidSPI(t *testing.T) {
	for _, spi := range []uint32{0, 1, 255, VXLANFlags} {
		if _, err := NewOutbound(spi, testKey(1)); err == nil {
			t.Errorf("NewOutbound(%#x) succeeded; want an error", spi)
		}
		if _, err := NewInbound(spi, testKey(1)); err == nil {
			t.Errorf("NewInbound(%#x) succeeded; want an error", spi)
		}
	}
	for _, spi := range []uint32{256, VXLANFlags - 1, VXLANFlags + 1, math.MaxUint32} {
		o, in := newPair(t, spi, testKey(1))
		if o.SPI() != spi || in.SPI() != spi {
			t.Errorf("SPI() = %#x, %#x; want %#x", o.SPI(), in.SPI(), spi)
		}
	}
}

// sealMany seals count datagrams of p-sized payloads and returns them
// (sequence numbers 1..count at index 0..count-1).
func sealMany(t *testing.T, o *Outbound, count, n int) [][]byte {
	ds := make([][]byte, count)
	for i := range ds {
		ds[i] = seal(t, o, payload(n))
	}
	return ds
}

// open opens a copy of d, leaving d itself sealed.
func open(in *Inbound, d []byte) ([]byte, error) {
	return in.Open(append([]byte{}, d...))
}

func TestOpenTamper(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	ds := sealMany(t, o, 40, 77)
	for _, d := range ds[:30] { // leave 31..40 unseen
		if _, err := open(in, d); err != nil {
			t.Fatal(err)
		}
	}
	d := ds[34] // seq 35
	for bit := range len(d) * 8 {
		bad := append([]byte{}, d...)
		bad[bit/8] ^= 1 << (bit % 8)
		_, err := in.Open(bad)
		switch {
		case bit/8 >= seqLowOffset && bit/8 < ivOffset:
			// A changed sequence number may point at one already seen.
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrReplay) {
				t.Fatalf("bit %d (seq) flipped: Open error %v; want ErrAuth or ErrReplay", bit, err)
			}
		case !errors.Is(err, ErrAuth):
			t.Fatalf("bit %d flipped: Open error %v; want ErrAuth", bit, err)
		}
	}
	if got, err := open(in, d); err != nil || !bytes.Equal(got, payload(77)) {
		t.Fatalf("Open of the original after tampered copies = (%d bytes, %v); want the payload", len(got), err)
	}
}

func TestOpenSeqIntoPast(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	ds := sealMany(t, o, 3, 10)
	if _, err := open(in, ds[0]); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, ds[2]...)
	bad[seqLowOffset+3] = 1 // seq 3 -> 1, seen
	if _, err := in.Open(bad); !errors.Is(err, ErrReplay) {
		t.Fatalf("seq rewritten to a seen one: Open error %v; want ErrReplay", err)
	}
}

func TestOpenTruncated(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	d := seal(t, o, payload(50))
	for n := range len(d) {
		_, err := open(in, d[:n])
		want := ErrAuth
		if n < HeaderLen+trailerLen+ICVLen {
			want = ErrShort
		}
		if !errors.Is(err, want) {
			t.Fatalf("truncated to %d bytes: Open error %v; want %v", n, err, want)
		}
	}
	if _, err := open(in, append(d, 0)); !errors.Is(err, ErrAuth) {
		t.Fatalf("one byte appended: Open error %v; want ErrAuth", err)
	}
}

func TestOpenWrongKey(t *testing.T) {
	o, _ := newPair(t, testSPI, testKey(1))
	d := seal(t, o, payload(64))
	for name, key := range map[string][KeyLen]byte{
		"other AES key": func() [KeyLen]byte { k := testKey(1); k[0] ^= 1; return k }(),
		"other salt":    func() [KeyLen]byte { k := testKey(1); k[KeyLen-1] ^= 1; return k }(),
	} {
		_, in := newPair(t, testSPI, key)
		if _, err := open(in, d); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: Open error %v; want ErrAuth", name, err)
		}
	}
	_, other := newPair(t, testSPI+1, testKey(1))
	if _, err := open(other, d); !errors.Is(err, ErrAuth) {
		t.Errorf("other SPI: Open error %v; want ErrAuth", err)
	}
}

func TestOpenTrailer(t *testing.T) {
	key := testKey(5)
	p := payload(9)
	tests := []struct {
		name      string
		plaintext []byte
		want      []byte // nil: ErrShort
	}{
		{"default", withTrailer(p, 1, NextHeader), p},
		{"long padding", withTrailer(p, 13, NextHeader), p},
		{"max padding", withTrailer(nil, 255, NextHeader), []byte{}},
		{"unaligned", withTrailer(p, 0, NextHeader), p},
		{"empty", withTrailer(nil, 0, NextHeader), []byte{}},
		{"pad length beyond plaintext", append(append([]byte{}, p[:5]...), 6, NextHeader), nil},
		{"pad length 255 with 9 bytes", append(append([]byte{}, p...), 255, NextHeader), nil},
		{"bad padding byte", append(append([]byte{}, p...), 1, 3, 2, NextHeader), nil},
		{"zero padding", append(append([]byte{}, p...), 0, 0, 2, NextHeader), nil},
		{"other next header", withTrailer(p, 1, 4), nil},
		{"dummy packet", withTrailer(p, 1, 59), nil},
		{"one byte", []byte{NextHeader}, nil},
		{"nothing", []byte{}, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, in := newPair(t, testSPI, key)
			seq := uint64(i + 1)
			d := sealRaw(t, key, testSPI, seq, tt.plaintext)
			got, err := in.Open(d)
			switch {
			case tt.want == nil && len(d) < minDatagram:
				if !errors.Is(err, ErrShort) {
					t.Fatalf("Open error %v; want ErrShort", err)
				}
			case tt.want == nil:
				if !errors.Is(err, ErrShort) {
					t.Fatalf("Open error %v; want ErrShort", err)
				}
				// Authentic, so it still takes its place in the window.
				if _, err := in.Open(sealRaw(t, key, testSPI, seq, tt.plaintext)); !errors.Is(err, ErrReplay) {
					t.Fatalf("second Open error %v; want ErrReplay", err)
				}
			case err != nil || !bytes.Equal(got, tt.want):
				t.Fatalf("Open = (% x, %v); want % x", got, err, tt.want)
			}
		})
	}
}

func TestOpenReplay(t *testing.T) {
	o, in := newPair(t, testSPI, testKey(1))
	ds := sealMany(t, o, 100, 40)
	if _, err := open(in, ds[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := open(in, ds[0]); !errors.Is(err, ErrReplay) {
		t.Fatalf("same datagram twice: second Open error %v; want ErrReplay", err)
	}
	// Out of order within the window: all accepted once, then all replays.
	order := []int{99, 50, 2, 98, 1, 70, 3, 97, 60}
	for _, i := range order {
		if got, err := open(in, ds[i]); err != nil || !bytes.Equal(got, payload(40)) {
			t.Fatalf("seq %d out of order: Open = (%d bytes, %v); want the payload", i+1, len(got), err)
		}
	}
	for _, i := range append(order, 0) {
		if _, err := open(in, ds[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("seq %d again: Open error %v; want ErrReplay", i+1, err)
		}
	}
}

func TestOpenWindowSize(t *testing.T) {
	const top = 5000
	o, in := newPair(t, testSPI, testKey(1))
	ds := sealMany(t, o, top, 8)
	datagram := func(seq int) []byte { return ds[seq-1] }
	if _, err := open(in, datagram(top)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		seq  int
		want error
	}{
		{top - 1, nil},
		{top - 2047, nil},
		{top - 2048, nil},
		{top - ReplayWindowSize + 1, nil}, // the oldest in the window
		{top - ReplayWindowSize, ErrReplay},
		{top - 4096, ErrReplay},
		{top - 4097, ErrReplay},
		{1, ErrReplay},
	}
	for _, tt := range tests {
		if _, err := open(in, datagram(tt.seq)); !errors.Is(err, tt.want) {
			t.Errorf("seq N-%d after N: Open error %v; want %v", top-tt.seq, err, tt.want)
		}
	}
}

func TestOpenESNWrap(t *testing.T) {
	// The sender crosses 2^32; only the low half travels, and the receiver
	// must infer the high half for the AAD.
	const start = 1<<32 - 20
	o, in := newPair(t, testSPI, testKey(1))
	o.seq = start
	in.window.Update(start)
	ds := sealMany(t, o, 40, 33)
	order := []int{0, 1, 25, 19, 20, 2, 39, 18, 30}
	for _, i := range order {
		if got, err := open(in, ds[i]); err != nil || !bytes.Equal(got, payload(33)) {
			t.Fatalf("seq %#x: Open = (%d bytes, %v); want the payload", start+1+uint64(i), len(got), err)
		}
	}
	if in.window.Top() != start+40 {
		t.Fatalf("window top = %#x; want %#x", in.window.Top(), uint64(start+40))
	}
	for _, i := range order {
		if _, err := open(in, ds[i]); !errors.Is(err, ErrReplay) {
			t.Fatalf("seq %#x again: Open error %v; want ErrReplay", start+1+uint64(i), err)
		}
	}
}

func TestOpenWrongHighHalf(t *testing.T) {
	// A receiver that infers the wrong high half rejects the datagram as
	// inauthentic and keeps its window.
	o, in := newPair(t, testSPI, testKey(1))
	o.seq = 3<<32 + 10
	in.window.Update(1<<32 + 10)
	d := seal(t, o, payload(20))
	if _, err := open(in, d); !errors.Is(err, ErrAuth) {
		t.Fatalf("Open error %v; want ErrAuth", err)
	}
	if in.window.Top() != 1<<32+10 {
		t.Fatalf("window top = %#x after a failed Open; want it unchanged", in.window.Top())
	}
}

func TestSealOpenAllocs(t *testing.T) {
	for _, n := range []int{64, 1500} {
		o, in := newPair(t, testSPI, testKey(1))
		buf := withRoom(payload(n))
		if a := testing.AllocsPerRun(1000, func() {
			if _, err := o.Seal(buf, n); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Seal(%d bytes): %v allocations; want 0", n, a)
		}
		sealed := seal(t, o, payload(n))
		d := make([]byte, len(sealed))
		if a := testing.AllocsPerRun(1000, func() {
			copy(d, sealed)
			in.window = ReplayWindow{}
			if _, err := in.Open(d); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Open(%d bytes): %v allocations; want 0", n, a)
		}
		d[len(d)-1] ^= 1
		if a := testing.AllocsPerRun(1000, func() { _, _ = in.Open(d) }); a != 0 {
			t.Errorf("Open(%d bytes) failing: %v allocations; want 0", n, a)
		}
	}
}

// Seals from several transmit loops at once (a network's TAP queues) each
// take their own sequence number, hence their own nonce, and open.
func TestOutboundConcurrentSeals(t *testing.T) {
	o, in := newPair(t, 0x1000, testKey(7))
	const loops, each = 4, 500
	ivs := make(chan uint64, loops*each)
	errs := make(chan error, loops)
	for range loops {
		go func() {
			buf := make([]byte, HeaderLen+64, HeaderLen+64+Overhead)
			for range each {
				m, err := o.Seal(buf, 64)
				if err != nil {
					errs <- err
					return
				}
				ivs <- Header(buf[:m]).IV()
				if _, err := in.Open(bytes.Clone(buf[:m])); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range loops {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(ivs)
	seen := map[uint64]bool{}
	for iv := range ivs {
		if seen[iv] {
			t.Fatalf("sequence number %d sealed twice: a reused nonce", iv)
		}
		seen[iv] = true
	}
	if len(seen) != loops*each || o.Seq() != loops*each {
		t.Errorf("%d distinct sequence numbers, Seq() = %d; want %d", len(seen), o.Seq(), loops*each)
	}
}
