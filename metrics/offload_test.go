package metrics

import "testing"

func TestOffloads(t *testing.T) {
	var s Offloads
	for o := range numOffloads {
		if s.Enabled(o) {
			t.Errorf("zero Offloads: %v on; want off", o)
		}
	}
	s.Set(OffloadUDPSegment, true)
	s.Set(OffloadTAP, true)
	for i, want := range []bool{true, false, false} {
		if first := s.Refuse(OffloadTAP); first != want {
			t.Errorf("refusal %d of tap: first = %v; want %v", i+1, first, want)
		}
	}
	for o, want := range map[Offload]struct {
		on      bool
		refused uint64
	}{
		OffloadUDPSegment: {true, 0},
		OffloadUDPGRO:     {false, 0},
		OffloadTAP:        {false, 3},
	} {
		if on, refused := s.Enabled(o), s.refused[o].Load(); on != want.on || refused != want.refused {
			t.Errorf("%v: on %v, refused %d times; want %v, %d", o, on, refused, want.on, want.refused)
		}
	}
}

func TestOffloadStrings(t *testing.T) {
	for o, want := range map[Offload]string{
		OffloadUDPSegment: "udp_segment", OffloadUDPGRO: "udp_gro", OffloadTAP: "tap", numOffloads: "unknown",
	} {
		if got := o.String(); got != want {
			t.Errorf("Offload(%d).String(): got %q; want %q", o, got, want)
		}
	}
}
