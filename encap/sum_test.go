package encap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refSum is the ones'-complement sum of RFC 1071, 16 bits at a time.
func refSum(b []byte, s uint32) uint16 {
	acc := uint64(s)
	for ; len(b) >= 2; b = b[2:] {
		acc += uint64(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

func TestSumMatchesRFC1071(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	ones := bytes.Repeat([]byte{0xff}, 70000) // every add carries
	for _, b := range [][]byte{buf, ones} {
		for n := range 200 {
			for _, off := range []int{0, 1, 3, 7} {
				s := r.Uint32() >> 15
				if got, want := fold(sum(b[off:off+n], s)), refSum(b[off:off+n], s); got != want {
					t.Fatalf("sum of %d bytes at %d (start %#x) = %#04x; want %#04x", n, off, s, got, want)
				}
			}
		}
		for _, n := range []int{1400, 1401, 65535, 69999} {
			if got, want := fold(sum(b[:n], 0)), refSum(b[:n], 0); got != want {
				t.Fatalf("sum of %d bytes = %#04x; want %#04x", n, got, want)
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	buf := make([]byte, 1448)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_ = sum(buf, 0)
	}
}
