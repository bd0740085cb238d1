package vtep

import (
	"net/netip"
	"testing"

	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
)

// clusterConfig is a network as a control plane programs it: no learning
// and no peers until Apply.
func clusterConfig(name string, vni uint32) NetworkConfig {
	nc := netConfig(name, vni)
	nc.Learn, nc.Peers = false, []netip.AddrPort{}
	return nc
}

// expectAnnounce fails unless the next frame on nd's TAP of vni is the
// gratuitous ARP for ip at mac.
func expectAnnounce(t *testing.T, nd *node, vni uint32, ip netip.Addr, mac fdb.MAC) {
	t.Helper()
	expectFrame(t, nd.taps[vni], gratuitousARP(ip, mac))
}

func TestApply(t *testing.T) {
	nc := clusterConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	state := NetworkState{
		Peers: []netip.AddrPort{b.addr},
		MACs:  map[fdb.MAC]netip.AddrPort{macB: b.addr},
		IPs:   map[netip.Addr]fdb.MAC{ipB: macB},
	}
	if err := a.eng.Apply(1, state); err != nil {
		t.Fatal(err)
	}
	expectAnnounce(t, a, 1, ipB, macB)

	// Unicast goes to B, ARP for B is answered here, broadcast reaches B only.
	uni := ether(macB, macA, 1, 60)
	a.taps[1].Inject(uni)
	expectFrame(t, b.taps[1], uni)
	a.taps[1].Inject(arpRequest(macA, ipA, ipB))
	if f, ok := a.taps[1].Next(waitFrame); !ok || parseARPOp(f) != header.ARPReply {
		t.Fatalf("ARP request for %v: got %x, %v; want a reply from A's FDB", ipB, f, ok)
	}
	a.taps[1].Inject(ether(bcast, macA, 2, 60))
	expectFrame(t, b.taps[1], ether(bcast, macA, 2, 60))

	// The same state again announces nothing; a moved address is announced.
	if err := a.eng.Apply(1, state); err != nil {
		t.Fatal(err)
	}
	state.MACs[macC] = c.addr
	state.IPs[ipB] = macC
	state.Peers = []netip.AddrPort{b.addr, c.addr}
	if err := a.eng.Apply(1, state); err != nil {
		t.Fatal(err)
	}
	expectAnnounce(t, a, 1, ipB, macC) // the next frame: nothing came between
	// C is a peer now: the first broadcast it sees is one sent after the
	// change, so the one before never reached it.
	a.taps[1].Inject(marker(macA, 3))
	expectFrame(t, c.taps[1], marker(macA, 3))

	// An empty state withdraws every row and peer.
	if err := a.eng.Apply(1, NetworkState{}); err != nil {
		t.Fatal(err)
	}
	if macs, ips := a.fdb.Len(); macs != 0 || ips != 0 {
		t.Errorf("after an empty Apply: %d MAC and %d IP rows; want none", macs, ips)
	}
	if got := *(*a.eng.nets.Load())[1].peers.Load(); len(got) != 0 {
		t.Errorf("after an empty Apply: peers %v; want none", got)
	}
}

func TestApplyRefused(t *testing.T) {
	a := newCluster(t, 1, clusterConfig("blue", 1))[0]
	if err := a.eng.Apply(99, NetworkState{}); err == nil {
		t.Error("Apply on an unknown VNI: got nil; want an error")
	}
	// SAs for a plaintext network are refused, and nothing else is applied.
	state := NetworkState{MACs: map[fdb.MAC]netip.AddrPort{macB: nodeAddr(1)}, Crypto: &Crypto{}}
	if err := a.eng.Apply(1, state); err == nil {
		t.Error("Apply with SAs on a plaintext network: got nil; want an error")
	}
	if _, ok := a.fdb.Lookup(1, macB); ok {
		t.Error("a refused Apply programmed the FDB")
	}
}

// parseARPOp returns the operation of an ARP frame, 0 if it is not one.
func parseARPOp(f []byte) uint16 {
	if p, ok := parseARP(f); ok {
		return p.Op()
	}
	return 0
}
