package vtep

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/metrics"
)

// peerStats returns the peer counters of reg by peer, the other bucket
// under the invalid address.
func peerStats(reg *metrics.Registry) map[netip.AddrPort]metrics.PeerStats {
	m := map[netip.AddrPort]metrics.PeerStats{}
	for _, s := range reg.Peers.Stats() {
		m[s.Peer] = s
	}
	return m
}

// peerList returns the peers reg counts, sorted, without the other bucket.
func peerList(reg *metrics.Registry) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range reg.Peers.Stats() {
		if s.Peer.IsValid() {
			out = append(out, s.Peer)
		}
	}
	return out
}

// batchCount returns how many batches of direction d reg's histogram holds.
func batchCount(t *testing.T, reg *metrics.Registry, d metrics.Direction) uint64 {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(reg)
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "weft_batch_size" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == d.String() {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	t.Fatalf("no weft_batch_size{direction=%q}", d)
	return 0
}

func TestPeerCountersMove(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	start := time.Now()
	for i, nd := range nodes {
		if got, want := peerList(nd.reg), others(i, 3); !slices.Equal(got, want) {
			t.Fatalf("node %d counts peers %v; want %v", i, got, want)
		}
	}

	// A floods: one datagram to each of B and C.
	hello := ether(bcast, macA, 1, 100)
	a.taps[1].Inject(hello)
	expectFrame(t, b.taps[1], hello)
	expectFrame(t, c.taps[1], hello)
	size := uint64(encap.HeaderLen + len(hello))
	for _, p := range []netip.AddrPort{b.addr, c.addr} {
		waitCount(t, "A tx packets to "+p.String(), func() uint64 { return peerStats(a.reg)[p].TxPackets }, 1)
		if got := peerStats(a.reg)[p].TxBytes; got != size {
			t.Errorf("A tx bytes to %v: got %d; want %d", p, got, size)
		}
	}
	for _, nd := range []*node{b, c} {
		waitCount(t, nd.addr.String()+" rx packets from A", func() uint64 { return peerStats(nd.reg)[a.addr].RxPackets }, 1)
		s := peerStats(nd.reg)[a.addr]
		if s.RxBytes != size {
			t.Errorf("%v rx bytes from A: got %d; want %d", nd.addr, s.RxBytes, size)
		}
		if s.LastSeen.Before(start.Round(0)) || s.LastSeen.After(time.Now()) {
			t.Errorf("%v last saw A at %v; want between %v and now", nd.addr, s.LastSeen, start)
		}
		if other := peerStats(nd.reg)[netip.AddrPort{}]; other.RxPackets != 0 {
			t.Errorf("%v counted %d datagrams from other VTEPs; want 0", nd.addr, other.RxPackets)
		}
	}

	// B answers A alone (it learned where macA lives).
	uni := ether(macA, macB, 2, 90)
	b.taps[1].Inject(uni)
	expectFrame(t, a.taps[1], uni)
	waitCount(t, "B tx packets to A", func() uint64 { return peerStats(b.reg)[a.addr].TxPackets }, 1)
	waitCount(t, "A rx packets from B", func() uint64 { return peerStats(a.reg)[b.addr].RxPackets }, 1)
	if got := peerStats(b.reg)[c.addr].TxPackets; got != 0 {
		t.Errorf("B tx packets to C: got %d; want 0", got)
	}

	for _, tt := range []struct {
		what string
		nd   *node
		d    metrics.Direction
	}{{"A tap reads", a, metrics.TapRead}, {"A underlay writes", a, metrics.UDPWrite}, {"B underlay reads", b, metrics.UDPRead}} {
		if got := batchCount(t, tt.nd.reg, tt.d); got == 0 {
			t.Errorf("%s: batch histogram counted none", tt.what)
		}
	}
}

func TestPeerCountersOther(t *testing.T) {
	nc := netConfig("blue", 1)
	b := newCluster(t, 2, nc)[1]
	stranger := netip.MustParseAddrPort("198.18.0.77:4789")
	flow := netip.MustParseAddrPort("198.18.0.1:50123") // A, from a source port of a flow
	b.conn.Inject(vxlan(1, ether(bcast, macC, 1, 60)), stranger)
	b.conn.Inject(vxlan(1, ether(bcast, macA, 2, 60)), flow)
	b.conn.Inject(vxlan(9, ether(bcast, macA, 3, 60)), nodeAddr(0)) // unknown VNI: dropped, not counted
	expectFrame(t, b.taps[1], ether(bcast, macC, 1, 60))
	expectFrame(t, b.taps[1], ether(bcast, macA, 2, 60))
	waitCount(t, "B unknown VNI drops", func() uint64 { return b.reg.Underlay.Drops(metrics.DropUnknownVNI) }, 1)
	if got := peerStats(b.reg)[netip.AddrPort{}].RxPackets; got != 1 {
		t.Errorf("other rx packets: got %d; want 1 (from %v)", got, stranger)
	}
	if got := peerStats(b.reg)[nodeAddr(0)].RxPackets; got != 1 {
		t.Errorf("A rx packets: got %d; want 1 (from %v; the unknown VNI not counted)", got, flow)
	}
	if got := peerList(b.reg); !slices.Equal(got, []netip.AddrPort{nodeAddr(0)}) {
		t.Errorf("peers after a stranger's datagram: got %v; want only A", got)
	}

	// B unicasts to the stranger it learned macC from: counted as other.
	uni := ether(macC, macB, 4, 60)
	b.taps[1].Inject(uni)
	waitCount(t, "other tx packets", func() uint64 { return peerStats(b.reg)[netip.AddrPort{}].TxPackets }, 1)
}

func TestPeerTableFollowsNetworks(t *testing.T) {
	blue, red := netConfig("blue", 1), netConfig("red", 2)
	red.Peers = []netip.AddrPort{nodeAddr(2), nodeAddr(5)}
	a := newCluster(t, 3, blue, red)[0]
	list := func() []netip.AddrPort { return peerList(a.reg) }
	if got, want := list(), []netip.AddrPort{nodeAddr(1), nodeAddr(2), nodeAddr(5)}; !slices.Equal(got, want) {
		t.Fatalf("peers of blue and red: got %v; want %v", got, want)
	}
	if err := a.eng.SetPeers(1, []netip.AddrPort{nodeAddr(2)}); err != nil {
		t.Fatal(err)
	}
	if got, want := list(), []netip.AddrPort{nodeAddr(2), nodeAddr(5)}; !slices.Equal(got, want) {
		t.Fatalf("after SetPeers: got %v; want %v", got, want)
	}
	if err := a.eng.RemoveNetwork(2); err != nil {
		t.Fatal(err)
	}
	if got, want := list(), []netip.AddrPort{nodeAddr(2)}; !slices.Equal(got, want) {
		t.Fatalf("after removing red: got %v; want %v", got, want)
	}
	if err := a.eng.RemoveNetwork(1); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("with no networks: got %v; want none", got)
	}
}
