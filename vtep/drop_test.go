package vtep

import (
	"net/netip"
	"testing"

	"github.com/weftnet/weft/internal/header"
	"github.com/weftnet/weft/metrics"
)

// TestEngineUsesRegistryCounters checks that the counters the tests read
// through the registry are the ones the engine adds to.
func TestEngineUsesRegistryCounters(t *testing.T) {
	nc := netConfig("blue", 7)
	a := newCluster(t, 1, nc)[0]
	n := (*a.eng.nets.Load())[nc.VNI]
	if got, want := a.reg.Network(nc.Name, nc.VNI), n.ctr; got != want {
		t.Fatalf("reg.Network(%q, %d) = %p; want the engine's %p", nc.Name, nc.VNI, got, want)
	}
}

func TestReceiveDrops(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	ctr := a.reg.Network(nc.Name, nc.VNI)
	maxFrame := nc.MTU + maxFrameOverhead
	withByte := func(pkt []byte, i int, v byte) []byte { pkt[i] = v; return pkt }
	tests := []struct {
		name     string
		pkt      []byte
		count    int
		underlay map[metrics.Reason]uint64
		network  map[metrics.Reason]uint64
	}{
		{"empty datagram", []byte{}, 1, map[metrics.Reason]uint64{metrics.DropShort: 1}, nil},
		{"short datagram", []byte{0x08, 0, 0, 0, 0, 0, 1}, 3, map[metrics.Reason]uint64{metrics.DropShort: 3}, nil},
		{"I flag clear", withByte(vxlan(1, ether(bcast, macB, 1, 60)), 0, 0), 2, map[metrics.Reason]uint64{metrics.DropBadFlags: 2}, nil},
		{"reserved flag set", withByte(vxlan(1, ether(bcast, macB, 1, 60)), 0, 0x0c), 2, map[metrics.Reason]uint64{metrics.DropBadFlags: 2}, nil},
		{"reserved byte after VNI set", withByte(vxlan(1, ether(bcast, macB, 1, 60)), 7, 1), 1, map[metrics.Reason]uint64{metrics.DropBadFlags: 1}, nil},
		{"unknown VNI", vxlan(77, ether(bcast, macB, 1, 60)), 4, map[metrics.Reason]uint64{metrics.DropUnknownVNI: 4}, nil},
		{"truncated inner frame", vxlan(1, ether(bcast, macB, 1, 60)[:header.EthernetLen-1]), 2, map[metrics.Reason]uint64{metrics.DropTruncated: 2}, nil},
		{"header only", vxlan(1, nil), 1, map[metrics.Reason]uint64{metrics.DropTruncated: 1}, nil},
		{"oversize inner frame", vxlan(1, ether(bcast, macB, 1, maxFrame+1)), 3, nil, map[metrics.Reason]uint64{metrics.DropOversize: 3}},
		{"jumbo inner frame", vxlan(1, ether(bcast, macB, 1, 9000)), 1, nil, map[metrics.Reason]uint64{metrics.DropOversize: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under, net := dropCounts(&a.reg.Underlay), dropCounts(ctr)
			for range tt.count {
				a.conn.Inject(tt.pkt, b.addr)
			}
			// Datagrams are handled in order, so once a valid frame that
			// follows the garbage is delivered, every drop is counted.
			valid := ether(bcast, macB, byte(i), 60)
			a.conn.Inject(vxlan(1, valid), b.addr)
			expectFrame(t, a.taps[1], valid)
			checkDropDelta(t, "underlay", &a.reg.Underlay, under, tt.underlay)
			checkDropDelta(t, "network", ctr, net, tt.network)
		})
	}
	t.Run("largest inner frame delivered", func(t *testing.T) {
		// The frames of the subtests above are counted once written to
		// the TAP, a moment after they are seen there.
		waitCount(t, "rx packets before", ctr.RxPackets.Load, uint64(len(tests)))
		under, net, rx := dropCounts(&a.reg.Underlay), dropCounts(ctr), ctr.RxPackets.Load()
		f := ether(bcast, macB, 9, maxFrame)
		a.conn.Inject(vxlan(1, f), b.addr)
		expectFrame(t, a.taps[1], f)
		checkDropDelta(t, "underlay", &a.reg.Underlay, under, nil)
		checkDropDelta(t, "network", ctr, net, nil)
		waitCount(t, "rx packets", ctr.RxPackets.Load, rx+1)
	})
	if got := a.conn.Dropped(); got != 0 {
		t.Fatalf("underlay queue dropped %d datagrams; want 0", got)
	}
}

func TestTransmitDrops(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	ctr := a.reg.Network(nc.Name, nc.VNI)
	maxFrame := nc.MTU + maxFrameOverhead
	tests := []struct {
		name  string
		frame []byte
		count int
		want  map[metrics.Reason]uint64
	}{
		{"runt", ether(bcast, macA, 1, 60)[:header.EthernetLen-1], 2, map[metrics.Reason]uint64{metrics.DropTruncated: 2}},
		{"one byte over MTU", ether(bcast, macA, 1, maxFrame+1), 3, map[metrics.Reason]uint64{metrics.DropOversize: 3}},
		{"jumbo", ether(macB, macA, 1, 9000), 1, map[metrics.Reason]uint64{metrics.DropOversize: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, pkts := dropCounts(ctr), ctr.TxPackets.Load()
			for range tt.count {
				a.taps[1].Inject(tt.frame)
			}
			m := marker(macA, byte(i))
			a.taps[1].Inject(m)
			expectFrame(t, b.taps[1], m) // and nothing before it
			checkDropDelta(t, "network", ctr, before, tt.want)
			waitCount(t, "tx packets", ctr.TxPackets.Load, pkts+1)
		})
	}
}

func TestNoDestination(t *testing.T) {
	nc := netConfig("blue", 1)
	nc.Peers = []netip.AddrPort{}
	nodes := newCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	ctr := a.reg.Network(nc.Name, nc.VNI)
	for _, f := range [][]byte{ether(bcast, macA, 1, 60), ether(mcast, macA, 2, 60), ether(macB, macA, 3, 60), arpRequest(macA, ipA, ipB)} {
		a.taps[1].Inject(f)
	}
	// Wait for the drops before adding a peer, or a frame still queued on
	// the TAP would be flooded to it.
	waitCount(t, "no_destination drops", func() uint64 { return ctr.Drops(metrics.DropNoDestination) }, 4)
	if err := a.eng.SetPeers(nc.VNI, []netip.AddrPort{b.addr}); err != nil {
		t.Fatalf("SetPeers: %v", err)
	}
	m := marker(macA, 0)
	a.taps[1].Inject(m)
	expectFrame(t, b.taps[1], m)
	waitCount(t, "tx packets", ctr.TxPackets.Load, 1)
	checkDropDelta(t, "network", ctr, nil, map[metrics.Reason]uint64{metrics.DropNoDestination: 4})
}
