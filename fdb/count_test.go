package fdb

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

func TestCountByVNI(t *testing.T) {
	tb := New()
	if got := tb.CountByVNI(); len(got) != 0 {
		t.Fatalf("empty table: got %v; want no VNIs", got)
	}
	vtep := netip.MustParseAddrPort("198.18.0.2:4789")
	now := time.Now()
	tb.AddStatic(1, MAC{2, 0, 0, 0, 0, 1}, vtep)
	tb.Learn(1, MAC{2, 0, 0, 0, 0, 2}, vtep, now)
	tb.AddStaticIP(1, netip.MustParseAddr("198.19.1.2"), MAC{2, 0, 0, 0, 0, 1})
	tb.Learn(7, MAC{2, 0, 0, 0, 0, 3}, vtep, now)
	tb.LearnIP(9, netip.MustParseAddr("198.19.9.2"), MAC{2, 0, 0, 0, 0, 4}, now)
	want := map[uint32]Count{1: {MACs: 2, IPs: 1}, 7: {MACs: 1}, 9: {IPs: 1}}
	if got := tb.CountByVNI(); !maps.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	tb.DeleteVNI(1)
	delete(want, 1)
	if got := tb.CountByVNI(); !maps.Equal(got, want) {
		t.Fatalf("after DeleteVNI(1): got %v; want %v", got, want)
	}
}

// TestCountByVNIModel checks the counts against Entries and IPEntries
// after random changes.
func TestCountByVNIModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := New()
	now := time.Now()
	for range 500 {
		vni := uint32(r.IntN(4) + 1)
		mac := MAC{2, 0, 0, 0, 0, byte(r.IntN(16))}
		switch r.IntN(4) {
		case 0:
			tb.Learn(vni, mac, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(r.IntN(4))}), 4789), now)
		case 1:
			tb.Delete(vni, mac)
		case 2:
			tb.LearnIP(vni, netip.AddrFrom4([4]byte{198, 19, 0, byte(r.IntN(16))}), mac, now)
		case 3:
			tb.DeleteIP(vni, netip.AddrFrom4([4]byte{198, 19, 0, byte(r.IntN(16))}))
		}
	}
	want := map[uint32]Count{}
	for _, e := range tb.Entries() {
		c := want[e.VNI]
		c.MACs++
		want[e.VNI] = c
	}
	for _, e := range tb.IPEntries() {
		c := want[e.VNI]
		c.IPs++
		want[e.VNI] = c
	}
	if got := tb.CountByVNI(); !maps.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
}
