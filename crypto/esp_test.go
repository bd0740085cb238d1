package crypto

import (
	"math"
	"testing"
)

func TestIsESPAndSPIOf(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		spi     uint32
		spiOK   bool
		wantESP bool
	}{
		{"nil", nil, 0, false, false},
		{"3 bytes", []byte{0x12, 0x34, 0x56}, 0, false, false},
		{"VXLAN flags", []byte{0x08, 0, 0, 0, 0, 0, 1, 0}, VXLANFlags, true, false},
		{"VXLAN flags, 4 bytes", []byte{0x08, 0, 0, 0}, VXLANFlags, true, false},
		{"SPI 0", []byte{0, 0, 0, 0, 1}, 0, true, false},
		{"SPI 255", []byte{0, 0, 0, 0xff}, 255, true, false},
		{"SPI 256", []byte{0, 0, 1, 0}, 256, true, true},
		{"just below VXLAN", []byte{0x07, 0xff, 0xff, 0xff}, 0x07ffffff, true, true},
		{"just above VXLAN", []byte{0x08, 0, 0, 1}, 0x08000001, true, true},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 9, 9}, math.MaxUint32, true, true},
		{"typical", []byte{0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 1}, testSPI, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spi, ok := SPIOf(tt.b)
			if spi != tt.spi || ok != tt.spiOK {
				t.Errorf("SPIOf = (%#x, %v); want (%#x, %v)", spi, ok, tt.spi, tt.spiOK)
			}
			if got := IsESP(tt.b); got != tt.wantESP {
				t.Errorf("IsESP = %v; want %v", got, tt.wantESP)
			}
		})
	}
}

func TestValidSPI(t *testing.T) {
	for spi, want := range map[uint32]bool{
		0: false, 1: false, 255: false, VXLANFlags: false,
		256: true, VXLANFlags - 1: true, VXLANFlags + 1: true, math.MaxUint32: true,
	} {
		if got := ValidSPI(spi); got != want {
			t.Errorf("ValidSPI(%#x) = %v; want %v", spi, got, want)
		}
	}
}

func TestConstants(t *testing.T) {
	if Overhead != 37 || KeyLen != 36 || HeaderLen != 16 || ICVLen != 16 {
		t.Fatalf("Overhead, KeyLen, HeaderLen, ICVLen = %d, %d, %d, %d; want 37, 36, 16, 16", Overhead, KeyLen, HeaderLen, ICVLen)
	}
	if ReplayWindowSize < 2048 {
		t.Fatalf("ReplayWindowSize = %d; want at least 2048", ReplayWindowSize)
	}
	for n := range 100 {
		if got := SealedLen(n); got > n+Overhead || (got-HeaderLen-ICVLen)%4 != 0 || got < n+HeaderLen+trailerLen+ICVLen {
			t.Fatalf("SealedLen(%d) = %d; want n+%d..n+%d, ciphertext a multiple of 4", n, got, HeaderLen+trailerLen+ICVLen, Overhead)
		}
	}
}

func TestHeader(t *testing.T) {
	b := make([]byte, HeaderLen)
	Header(b).put(0xdeadbeef, 0x0102030405060708)
	h := Header(b)
	if h.SPI() != 0xdeadbeef || h.SeqLow() != 0x05060708 || h.IV() != 0x0102030405060708 {
		t.Fatalf("Header = (%#x, %#x, %#x); want (0xdeadbeef, 0x5060708, 0x102030405060708)", h.SPI(), h.SeqLow(), h.IV())
	}
}
