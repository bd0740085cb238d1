package tap

import (
	"errors"
	"testing"

	"github.com/weftnet/weft/internal/header"
)

func TestVnetHdrRoundTrip(t *testing.T) {
	for _, h := range []VnetHdr{
		{},
		{Flags: VnetNeedsCsum, CsumStart: 34, CsumOffset: 16},
		{Flags: VnetNeedsCsum, GSOType: header.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
		{Flags: VnetNeedsCsum, GSOType: header.GSOTCPv6, ECN: true, HdrLen: 86, GSOSize: 1428, CsumStart: 54, CsumOffset: 16},
		{Flags: VnetNeedsCsum, GSOType: header.GSOUDPL4, HdrLen: 42, GSOSize: 1350, CsumStart: 34, CsumOffset: 6},
	} {
		b := make([]byte, VnetHdrLen)
		h.Put(b)
		got, err := ParseVnetHdr(b, 65000)
		if err != nil || got != h {
			t.Errorf("ParseVnetHdr(Put(%+v)) = %+v, %v", h, got, err)
		}
	}
}

func TestParseVnetHdrRejects(t *testing.T) {
	tests := []struct {
		name     string
		h        VnetHdr
		frameLen int
	}{
		{"UFO", VnetHdr{Flags: VnetNeedsCsum, GSOType: header.GSOUDP, GSOSize: 1400}, 9000},
		{"unknown type", VnetHdr{Flags: VnetNeedsCsum, GSOType: 9, GSOSize: 1400}, 9000},
		{"GSO without size", VnetHdr{Flags: VnetNeedsCsum, GSOType: header.GSOTCPv4}, 9000},
		{"GSO without checksum work", VnetHdr{GSOType: header.GSOTCPv4, GSOSize: 1448}, 9000},
		{"checksum beyond the frame", VnetHdr{Flags: VnetNeedsCsum, CsumStart: 60, CsumOffset: 16}, 70},
	}
	for _, tt := range tests {
		b := make([]byte, VnetHdrLen)
		tt.h.Put(b)
		if _, err := ParseVnetHdr(b, tt.frameLen); !errors.Is(err, ErrVnetHdr) {
			t.Errorf("%s: got %v; want ErrVnetHdr", tt.name, err)
		}
	}
	if _, err := ParseVnetHdr(make([]byte, 9), 100); !errors.Is(err, ErrVnetHdr) {
		t.Errorf("short header: got %v; want ErrVnetHdr", err)
	}
}

// FuzzParseVnetHdr: any bytes parse without panicking, and what parses
// survives a round trip and keeps its checksum offsets inside the frame.
func FuzzParseVnetHdr(f *testing.F) {
	b := make([]byte, VnetHdrLen)
	VnetHdr{Flags: VnetNeedsCsum, GSOType: header.GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}.Put(b)
	f.Add(b, 9000)
	f.Add(make([]byte, VnetHdrLen), 60)
	f.Fuzz(func(t *testing.T, b []byte, frameLen int) {
		h, err := ParseVnetHdr(b, frameLen)
		if err != nil {
			return
		}
		if h.Flags&VnetNeedsCsum != 0 && int(h.CsumStart)+int(h.CsumOffset)+2 > frameLen {
			t.Fatalf("accepted checksum offsets beyond the frame: %+v, frame %d", h, frameLen)
		}
		again := make([]byte, VnetHdrLen)
		h.Put(again)
		if h2, err := ParseVnetHdr(again, frameLen); err != nil || h2 != h {
			t.Fatalf("round trip: %+v, %v; want %+v", h2, err, h)
		}
	})
}
