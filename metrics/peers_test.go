package metrics

import (
	"net/netip"
	"testing"
	"time"
)

var (
	peerA  = netip.MustParseAddrPort("198.18.0.2:4789")
	peerA2 = netip.MustParseAddrPort("198.18.0.2:8472") // same address, another port
	peerB  = netip.MustParseAddrPort("198.18.0.3:4789")
)

func TestPeersLookup(t *testing.T) {
	var p Peers
	p.Set([]netip.AddrPort{peerB, peerA2, peerA, netip.MustParseAddrPort("[::ffff:198.18.0.4]:4789"), peerB})
	a, a2, b := p.Destination(peerA), p.Destination(peerA2), p.Destination(peerB)
	other := &p.other
	tests := []struct {
		name string
		got  *PeerCounters
		want *PeerCounters
	}{
		{"destination, exact", p.Destination(peerA), a},
		{"destination, other port", p.Destination(netip.MustParseAddrPort("198.18.0.3:1")), other},
		{"destination, unknown", p.Destination(netip.MustParseAddrPort("198.18.0.9:4789")), other},
		{"sender, exact", p.Sender(peerA2), a2},
		{"sender, source port of a flow", p.Sender(netip.MustParseAddrPort("198.18.0.3:51000")), b},
		{"sender, the lowest port at a shared address", p.Sender(netip.MustParseAddrPort("198.18.0.2:51000")), a},
		{"sender, unknown", p.Sender(netip.MustParseAddrPort("198.18.0.9:4789")), other},
		{"IPv4-mapped peer taken as IPv4", p.Destination(netip.MustParseAddrPort("198.18.0.4:4789")), p.Sender(netip.MustParseAddrPort("198.18.0.4:1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %p; want %p (other is %p)", tt.got, tt.want, other)
			}
		})
	}
	if a == a2 || a == b || a == other || p.Destination(netip.MustParseAddrPort("198.18.0.4:4789")) == other {
		t.Fatalf("peers share counters: %p %p %p, other %p", a, a2, b, other)
	}
	if got := len(p.Stats()); got != 5 {
		t.Fatalf("Stats: got %d rows; want 4 peers (the duplicate once) and other", got)
	}
}

func TestPeersSetKeepsAndForgets(t *testing.T) {
	var p Peers
	if got := p.Sender(peerA); got != &p.other {
		t.Fatalf("zero Peers: got %p; want the other bucket", got)
	}
	p.Set([]netip.AddrPort{peerA, peerB})
	p.Destination(peerA).AddTx(3, 300)
	p.Destination(peerB).AddTx(1, 100)
	p.Set([]netip.AddrPort{peerA}) // B goes
	if got := p.Destination(peerA).TxPackets.Load(); got != 3 {
		t.Fatalf("a peer that stays: got %d tx packets; want 3", got)
	}
	if got := p.Destination(peerB); got != &p.other {
		t.Fatalf("a peer that went: got %p; want the other bucket", got)
	}
	p.Set([]netip.AddrPort{peerA, peerB}) // B is back, counted afresh
	if got := p.Destination(peerB).TxPackets.Load(); got != 0 {
		t.Fatalf("a peer that came back: got %d tx packets; want 0", got)
	}
	stats := p.Stats()
	want := []netip.AddrPort{peerA, peerB, {}}
	if len(stats) != len(want) {
		t.Fatalf("Stats: got %d rows; want %d", len(stats), len(want))
	}
	for i, s := range stats {
		if s.Peer != want[i] {
			t.Errorf("Stats[%d].Peer: got %v; want %v", i, s.Peer, want[i])
		}
	}
	p.Set(nil)
	if got := len(p.Stats()); got != 1 {
		t.Fatalf("Stats after Set(nil): got %d rows; want only the other bucket", got)
	}
}

func TestPeerLastSeen(t *testing.T) {
	var c PeerCounters
	if !c.LastSeen().IsZero() {
		t.Fatalf("LastSeen before any datagram: got %v; want zero", c.LastSeen())
	}
	t1 := time.Unix(1700000000, 0)
	c.AddRx(1, 10, t1.UnixNano())
	c.AddRx(1, 10, t1.Add(-time.Second).UnixNano()) // a batch read earlier, counted later
	if got := c.LastSeen(); !got.Equal(t1) {
		t.Fatalf("LastSeen: got %v; want %v (never moved back)", got, t1)
	}
	if c.RxPackets.Load() != 2 || c.RxBytes.Load() != 20 {
		t.Fatalf("rx: got %d packets, %d bytes; want 2, 20", c.RxPackets.Load(), c.RxBytes.Load())
	}
}

func TestPeersAllocs(t *testing.T) {
	var p Peers
	p.Set([]netip.AddrPort{peerA, peerB})
	from := netip.MustParseAddrPort("198.18.0.3:51000")
	unknown := netip.MustParseAddrPort("198.18.0.9:4789")
	n := testing.AllocsPerRun(100, func() {
		p.Sender(from).AddRx(1, 100, 1)
		p.Sender(unknown).AddRx(1, 100, 1)
		p.Destination(peerA).AddTx(1, 100)
	})
	if n != 0 {
		t.Fatalf("allocs: got %v; want 0", n)
	}
}
