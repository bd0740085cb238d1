package encap

import (
	"bytes"
	"testing"
)

// frame returns an inner Ethernet frame of n bytes with recognisable content.
func frame(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// withHeadroom returns buf with HeaderLen bytes of headroom (filled with junk
// that Encap must overwrite) followed by inner.
func withHeadroom(inner []byte) []byte {
	buf := bytes.Repeat([]byte{0xee}, HeaderLen+len(inner))
	copy(buf[HeaderLen:], inner)
	return buf
}

func TestEncapDecapRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		vni   uint32
		inner []byte
	}{
		{"vni 0", 0, frame(EthernetHeaderLen)},
		{"vni 1", 1, frame(64)},
		{"vni 4096", 4096, frame(1500)},
		{"max vni", MaxVNI, frame(9000)},
		{"mixed bytes", 0x123456, frame(60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := Encap(withHeadroom(tt.inner), HeaderLen, tt.vni)
			if len(pkt) != HeaderLen+len(tt.inner) {
				t.Fatalf("len(pkt) = %d; want %d", len(pkt), HeaderLen+len(tt.inner))
			}
			h := VXLAN(pkt)
			if h.Flags() != 0x08 {
				t.Errorf("Flags() = %#x; want 0x08", h.Flags())
			}
			if h.VNI() != tt.vni {
				t.Errorf("VNI() = %#x; want %#x", h.VNI(), tt.vni)
			}
			vni, inner, st := Decap(pkt)
			if st != OK || vni != tt.vni || !bytes.Equal(inner, tt.inner) {
				t.Fatalf("Decap = (%#x, %d bytes, %v); want (%#x, %d bytes, ok)", vni, len(inner), st, tt.vni, len(tt.inner))
			}
			if &inner[0] != &pkt[HeaderLen] {
				t.Errorf("Decap copied the inner frame; want a subslice of pkt")
			}
		})
	}
}

func TestEncapWireBytes(t *testing.T) {
	buf := withHeadroom(frame(EthernetHeaderLen))
	Encap(buf, HeaderLen, 0xabcdef)
	want := []byte{0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0}
	if got := buf[:HeaderLen]; !bytes.Equal(got, want) {
		t.Errorf("header = % x; want % x", got, want)
	}
}

func TestEncapLargeOffset(t *testing.T) {
	// Headroom beyond HeaderLen (room for outer headers) is left untouched.
	buf := withHeadroom(append(make([]byte, 20), frame(64)...))
	pkt := Encap(buf, 28, 7)
	if len(pkt) != len(buf)-20 || &pkt[0] != &buf[20] {
		t.Fatalf("Encap returned buf[%d:]; want buf[20:]", len(buf)-len(pkt))
	}
	if !bytes.Equal(buf[:HeaderLen], bytes.Repeat([]byte{0xee}, HeaderLen)) {
		t.Errorf("Encap wrote before offset-HeaderLen: % x", buf[:HeaderLen])
	}
}

func TestEncapPanics(t *testing.T) {
	tests := []struct {
		name   string
		offset int
		vni    uint32
	}{
		{"offset too small", HeaderLen - 1, 1},
		{"vni too large", HeaderLen, MaxVNI + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Encap(buf, %d, %#x) did not panic", tt.offset, tt.vni)
				}
			}()
			Encap(make([]byte, 64), tt.offset, tt.vni)
		})
	}
}

func TestVXLANSetVNIKeepsReserved(t *testing.T) {
	h := VXLAN{0x08, 0, 0, 0, 0, 0, 0, 0x5a}
	h.SetVNI(0x010203)
	if want := (VXLAN{0x08, 0, 0, 0, 1, 2, 3, 0x5a}); !bytes.Equal(h, want) {
		t.Errorf("header = % x; want % x", []byte(h), []byte(want))
	}
}

func TestDecapStatus(t *testing.T) {
	valid := Encap(withHeadroom(frame(EthernetHeaderLen)), HeaderLen, 42)
	with := func(i int, b byte) []byte {
		p := bytes.Clone(valid)
		p[i] = b
		return p
	}
	tests := []struct {
		name    string
		pkt     []byte
		wantVNI uint32
		wantSt  Status
	}{
		{"ok", valid, 42, OK},
		{"empty", nil, 0, Short},
		{"7 bytes", valid[:HeaderLen-1], 0, Short},
		{"header only", valid[:HeaderLen], 42, Truncated},
		{"13 byte inner", valid[:HeaderLen+EthernetHeaderLen-1], 42, Truncated},
		{"I flag clear", with(0, 0x00), 0, BadFlags},
		{"extra flag", with(0, 0x0c), 0, BadFlags},
		{"GBP flag", with(0, 0x88), 0, BadFlags},
		{"reserved byte 1", with(1, 0x01), 0, BadFlags},
		{"reserved byte 2", with(2, 0x80), 0, BadFlags},
		{"reserved byte 3", with(3, 0x01), 0, BadFlags},
		{"reserved byte 7", with(7, 0x01), 0, BadFlags},
		{"bad flags beats truncated", with(0, 0)[:HeaderLen], 0, BadFlags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vni, inner, st := Decap(tt.pkt)
			if st != tt.wantSt || vni != tt.wantVNI {
				t.Fatalf("Decap = (%#x, _, %v); want (%#x, _, %v)", vni, st, tt.wantVNI, tt.wantSt)
			}
			if (inner != nil) != (st == OK) {
				t.Errorf("inner = %v with status %v; want non-nil only for ok", inner, st)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		st   Status
		want string
	}{
		{OK, "ok"},
		{Short, "short"},
		{BadFlags, "bad_flags"},
		{Truncated, "truncated"},
		{numStatus, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q; want %q", tt.st, got, tt.want)
		}
	}
}

func TestEncapDecapAllocs(t *testing.T) {
	buf := withHeadroom(frame(1500))
	if n := testing.AllocsPerRun(100, func() { Encap(buf, HeaderLen, 99) }); n != 0 {
		t.Errorf("Encap: %v allocs per run; want 0", n)
	}
	pkt := Encap(buf, HeaderLen, 99)
	if n := testing.AllocsPerRun(100, func() { Decap(pkt) }); n != 0 {
		t.Errorf("Decap: %v allocs per run; want 0", n)
	}
}

func FuzzDecap(f *testing.F) {
	valid := Encap(withHeadroom(frame(64)), HeaderLen, 0x123456)
	f.Add(valid)
	f.Add(valid[:HeaderLen-1])                                     // short
	f.Add(append([]byte{0x0c, 0, 0, 0, 0, 0, 1, 0}, frame(64)...)) // bad flags
	f.Add(valid[:HeaderLen+EthernetHeaderLen-1])                   // truncated
	f.Fuzz(func(t *testing.T, pkt []byte) {
		vni, inner, st := Decap(pkt)
		if st >= numStatus {
			t.Fatalf("Decap returned unknown status %d", st)
		}
		if st != OK {
			return
		}
		if vni > MaxVNI {
			t.Fatalf("vni = %#x; want at most %#x", vni, MaxVNI)
		}
		again := Encap(withHeadroom(inner), HeaderLen, vni)
		if !bytes.Equal(again, pkt) {
			t.Fatalf("Encap(Decap(pkt)) = % x; want % x", again, pkt)
		}
	})
}

var sink []byte

func BenchmarkEncap(b *testing.B) {
	buf := withHeadroom(frame(1500))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sink = Encap(buf, HeaderLen, 99)
	}
}

func BenchmarkDecap(b *testing.B) {
	pkt := Encap(withHeadroom(frame(1500)), HeaderLen, 99)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		_, sink, _ = Decap(pkt)
	}
}
