package vtep

import (
	"net/netip"
	"testing"
	"time"

	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
)

func TestFloodReplicatesToEveryPeer(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	tx := a.reg.Network(nc.Name, nc.VNI)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"broadcast", ether(bcast, macA, 1, 60)},
		{"multicast", ether(mcast, macA, 2, 100)},
		{"unknown unicast", ether(macB, macA, 3, 80)},
		{"largest frame (MTU+18)", ether(bcast, macA, 4, nc.MTU+maxFrameOverhead)},
		{"shortest frame (Ethernet header)", ether(bcast, macA, 5, header.EthernetLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, bytes := tx.TxPackets.Load(), tx.TxBytes.Load()
			rxB, rxC := b.reg.Network(nc.Name, nc.VNI).RxPackets.Load(), c.reg.Network(nc.Name, nc.VNI).RxPackets.Load()
			a.taps[1].Inject(tt.frame)
			expectFrame(t, b.taps[1], tt.frame)
			expectFrame(t, c.taps[1], tt.frame)
			waitCount(t, "A tx packets", tx.TxPackets.Load, pkts+2)
			waitCount(t, "A tx bytes", tx.TxBytes.Load, bytes+2*uint64(len(tt.frame)))
			waitCount(t, "B rx packets", b.reg.Network(nc.Name, nc.VNI).RxPackets.Load, rxB+1)
			waitCount(t, "C rx packets", c.reg.Network(nc.Name, nc.VNI).RxPackets.Load, rxC+1)
		})
	}
	// One copy each: the next frame after all of them is a marker.
	m := marker(macA, 0)
	a.taps[1].Inject(m)
	expectFrame(t, b.taps[1], m)
	expectFrame(t, c.taps[1], m)
}

func TestLearnedUnicastGoesToOneVTEP(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]

	hello := ether(bcast, macA, 1, 60)
	a.taps[1].Inject(hello)
	expectFrame(t, b.taps[1], hello)
	expectFrame(t, c.taps[1], hello)
	if got, ok := b.fdb.Lookup(1, macA); !ok || got != a.addr {
		t.Fatalf("B learned %v for %v, %v; want %v, true", macA, got, ok, a.addr)
	}

	tx := b.reg.Network(nc.Name, nc.VNI)
	pkts := tx.TxPackets.Load()
	uni := ether(macA, macB, 2, 90)
	b.taps[1].Inject(uni)
	expectFrame(t, a.taps[1], uni)
	waitCount(t, "B tx packets", tx.TxPackets.Load, pkts+1)

	m := marker(macB, 0)
	b.taps[1].Inject(m)
	expectFrame(t, c.taps[1], m) // C never saw the unicast frame
	expectFrame(t, a.taps[1], m)
}

func TestLearnFromUnderlay(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 2, nc)
	b := nodes[1]
	ephemeral := netip.MustParseAddrPort("198.18.0.1:50123")
	tests := []struct {
		name   string
		from   netip.AddrPort
		src    fdb.MAC
		want   netip.AddrPort
		wantOK bool
	}{
		{"source port replaced by LearnPort", ephemeral, macA2, netip.MustParseAddrPort("198.18.0.1:4789"), true},
		{"moved MAC follows its VTEP", netip.MustParseAddrPort("198.18.0.3:4789"), macA2, netip.MustParseAddrPort("198.18.0.3:4789"), true},
		{"IPv4-mapped sender learned as IPv4", netip.MustParseAddrPort("[::ffff:198.18.0.4]:9"), macC, netip.MustParseAddrPort("198.18.0.4:4789"), true},
		{"IPv6 VTEP", netip.MustParseAddrPort("[2001:db8::5]:9"), macB, netip.MustParseAddrPort("[2001:db8::5]:4789"), true},
		{"multicast source not learned", ephemeral, mcast, netip.AddrPort{}, false},
		{"zero source not learned", ephemeral, fdb.MAC{}, netip.AddrPort{}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ether(bcast, tt.src, byte(i), 60)
			b.conn.Inject(vxlan(1, f), tt.from)
			expectFrame(t, b.taps[1], f) // learning precedes delivery
			if got, ok := b.fdb.Lookup(1, tt.src); got != tt.want || ok != tt.wantOK {
				t.Fatalf("Lookup(%v) = %v, %v; want %v, %v", tt.src, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLearnIPFromARP(t *testing.T) {
	nc := netConfig("blue", 1)
	b := newCluster(t, 2, nc)[1]
	from := nodeAddr(0)
	ipC := netip.MustParseAddr("10.0.0.3")
	proxied := arpReply(macC, ipC, macB, ipB)
	copy(proxied[6:12], macA[:]) // Ethernet source differs from the ARP sender
	tests := []struct {
		name  string
		frame []byte
		ip    netip.Addr
		want  fdb.MAC // zero: not learned
	}{
		{"reply", arpReply(macA, ipA, macB, ipB), ipA, macA},
		{"request teaches its sender", arpRequest(macA2, ipNone, ipB), ipNone, macA2},
		{"probe from 0.0.0.0", arpRequest(macC, netip.IPv4Unspecified(), ipB), netip.IPv4Unspecified(), fdb.MAC{}},
		{"sender MAC not the Ethernet source", proxied, ipC, fdb.MAC{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.conn.Inject(vxlan(1, tt.frame), from)
			expectFrame(t, b.taps[1], tt.frame)
			got, ok := b.fdb.LookupIP(1, tt.ip)
			if wantOK := tt.want != (fdb.MAC{}); got != tt.want || ok != wantOK {
				t.Fatalf("LookupIP(%v) = %v, %v; want %v, %v", tt.ip, got, ok, tt.want, wantOK)
			}
		})
	}
}

func TestLearningDisabled(t *testing.T) {
	nc := netConfig("blue", 1)
	nc.Learn = false
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, f := range [][]byte{ether(bcast, macA, 1, 60), arpReply(macA, ipA, macB, ipB)} {
		a.taps[1].Inject(f)
		expectFrame(t, b.taps[1], f)
		expectFrame(t, c.taps[1], f)
	}
	if macs, ips := b.fdb.Len(); macs != 0 || ips != 0 {
		t.Fatalf("B's FDB has %d MACs, %d IPs; want 0, 0", macs, ips)
	}
	// Unicast to macA is still unknown to B, so C gets a copy too.
	uni := ether(macA, macB, 2, 60)
	b.taps[1].Inject(uni)
	expectFrame(t, a.taps[1], uni)
	expectFrame(t, c.taps[1], uni)
}

func TestARPSuppression(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// Host B answers host A: the reply teaches A that ipB is at macB.
	learnt := arpReply(macB, ipB, macA, ipA)
	b.taps[1].Inject(learnt)
	expectFrame(t, a.taps[1], learnt)
	expectFrame(t, c.taps[1], learnt)
	if got, ok := a.fdb.LookupIP(1, ipB); !ok || got != macB {
		t.Fatalf("A's LookupIP(%v) = %v, %v; want %v, true", ipB, got, ok, macB)
	}

	// probe is answered by A itself and proves, by being the next frame on
	// A's TAP, that no other answer was written there.
	probe, probeAnswer := arpRequest(macA, ipA, ipB), arpReply(macB, ipB, macA, ipA)
	tests := []struct {
		name   string
		frame  []byte
		answer []byte // written back to A's TAP, or nil
		toB    bool
		toC    bool
	}{
		{"request for learned IP answered locally", arpRequest(macA, ipA, ipB), arpReply(macB, ipB, macA, ipA), false, false},
		{"second requester answered", arpRequest(macA2, netip.MustParseAddr("10.0.0.3"), ipB), arpReply(macB, ipB, macA2, netip.MustParseAddr("10.0.0.3")), false, false},
		{"gratuitous ARP for learned IP flooded", arpFrame(bcast, header.ARPRequest, macA2, ipB, fdb.MAC{}, ipB), nil, true, true},
		{"request for unknown IP flooded", arpRequest(macA, ipA, ipNone), nil, true, true},
		{"reply about learned IP flooded", arpFrame(bcast, header.ARPReply, macA, ipA, fdb.MAC{}, ipB), nil, true, true},
		{"unicast request goes to its owner", arpFrame(macB, header.ARPRequest, macA, ipA, macB, ipB), nil, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := marker(macA, byte(i))
			a.taps[1].Inject(tt.frame, probe, m)
			if tt.answer != nil {
				expectFrame(t, a.taps[1], tt.answer)
			}
			expectFrame(t, a.taps[1], probeAnswer)
			for _, to := range []struct {
				n    *node
				want bool
			}{{b, tt.toB}, {c, tt.toC}} {
				if to.want {
					expectFrame(t, to.n.taps[1], tt.frame)
				}
				expectFrame(t, to.n.taps[1], m)
			}
		})
	}
}

func TestVNIIsolation(t *testing.T) {
	blue, red := netConfig("blue", 1), netConfig("red", 2)
	nodes := newCluster(t, 2, blue, red)
	a, b := nodes[0], nodes[1]
	for i, dir := range []struct{ from, to *node }{{a, b}, {b, a}} {
		src := fdb.MAC{0x02, 0, 0, 0, 1, byte(i)}
		f := ether(bcast, src, 1, 60)
		dir.from.taps[blue.VNI].Inject(f)
		expectFrame(t, dir.to.taps[blue.VNI], f)
		// The blue frame has been through the receive loop; had it leaked to
		// red, it would come before red's marker.
		m := marker(src, 0)
		dir.from.taps[red.VNI].Inject(m)
		expectFrame(t, dir.to.taps[red.VNI], m)
		if _, ok := dir.to.fdb.Lookup(red.VNI, src); !ok {
			t.Errorf("%v not learned on red from its marker", src)
		}
		if got, ok := dir.to.fdb.Lookup(blue.VNI, src); !ok || got != dir.from.addr {
			t.Errorf("blue Lookup(%v) = %v, %v; want %v, true", src, got, ok, dir.from.addr)
		}
	}
	// A MAC learned on blue is unknown on red: red unicast to it floods.
	if _, ok := b.fdb.Lookup(red.VNI, macA); ok {
		t.Fatalf("B knows %v on red before any red frame from it", macA)
	}
	a.taps[blue.VNI].Inject(ether(bcast, macA, 2, 60))
	expectFrame(t, b.taps[blue.VNI], ether(bcast, macA, 2, 60))
	if _, ok := b.fdb.Lookup(red.VNI, macA); ok {
		t.Fatalf("B learned %v on red from a blue frame", macA)
	}
}

// A VTEP learned at the address of a configured peer keeps that peer's port,
// so a peer listening on a non-default port still gets unicast.
func TestLearnedPeerKeepsItsPort(t *testing.T) {
	nc := netConfig("blue", 1)
	b := newCluster(t, 2, nc)[1]
	peer := netip.MustParseAddrPort("198.18.0.9:8472")
	if err := b.eng.SetPeers(1, []netip.AddrPort{peer}); err != nil {
		t.Fatal(err)
	}
	f := ether(bcast, macC, 1, 60)
	b.conn.Inject(vxlan(1, f), netip.MustParseAddrPort("198.18.0.9:50123"))
	expectFrame(t, b.taps[1], f)
	if got, ok := b.fdb.Lookup(1, macC); !ok || got != peer {
		t.Fatalf("Lookup(%v) = %v, %v; want %v, true", macC, got, ok, peer)
	}
}

// An IP binding whose MAC has no VTEP any more is not answered from: the
// request is flooded so that whoever owns the address answers.
func TestARPNotAnsweredWithoutVTEP(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	a.fdb.AddStaticIP(1, ipB, macB)
	req := arpRequest(macA, ipA, ipB)
	a.taps[1].Inject(req)
	expectFrame(t, b.taps[1], req)
	m := marker(macA, 0)
	a.taps[1].Inject(m)
	expectFrame(t, b.taps[1], m) // A is done with req
	if reply, ok := a.taps[1].Next(0); ok {
		t.Fatalf("A answered from a binding with no VTEP: % x", reply)
	}
}

// Announce writes a gratuitous ARP that parses as ARP, from the new owner,
// for the address it now holds.
func TestAnnounce(t *testing.T) {
	nc := netConfig("blue", 1)
	a := newCluster(t, 1, nc)[0]
	if err := a.eng.Announce(1, ipB, macB); err != nil {
		t.Fatal(err)
	}
	f, ok := a.taps[1].Next(time.Second)
	if !ok {
		t.Fatal("no frame on the TAP")
	}
	p, ok := parseARP(f)
	switch {
	case !ok:
		t.Fatalf("not ARP: % x", f)
	case fdb.MAC(f[0:6]) != bcast || fdb.MAC(f[6:12]) != macB:
		t.Fatalf("addressing: dst %x src %x; want broadcast from %v", f[0:6], f[6:12], macB)
	case p.Op() != header.ARPRequest || p.SenderMAC() != macB || p.SenderIP() != ipB || p.TargetIP() != ipB:
		t.Fatalf("got op %d sender %v %v target %v; want a gratuitous request for %v at %v", p.Op(), fdb.MAC(p.SenderMAC()), p.SenderIP(), p.TargetIP(), ipB, macB)
	}
	if err := a.eng.Announce(99, ipB, macB); err == nil {
		t.Fatal("Announce on an unknown VNI: got nil; want an error")
	}
}
