package reconcile

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/vtep"
)

// Bounds on the waits: gossip carries a change within a few gossip
// intervals; a node that crashed is declared dead within 3 s.
const (
	waitGossip = 5 * time.Second
	waitDead   = 10 * time.Second
)

// TestRecords covers a network's records added, updated, deleted and
// withdrawn: each time the FDB, the flood list, the zone and the traffic
// follow.
func TestRecords(t *testing.T) {
	l := newLab(t)
	a := l.start("a", 1, testNet, 1)
	b := l.start("b", 2, testNet, 2, a)
	c := l.start("c", 3, testNet, 3, a)

	// Added: a programs b and c, and only them; its zone has all three.
	poll.Until(t, waitGossip, "a to program b and c", func() bool { return a.programmedFor(b, c) })
	checkPeers(t, a, b.endpoint().VTEP, c.endpoint().VTEP)
	poll.Until(t, waitGossip, "a's zone to name ca, cb and cc", func() bool {
		names, _ := a.zones.names(testNet.ID)
		return slices.Equal(names, []string{"ca", "cb", "cc"})
	})
	poll.Until(t, waitGossip, "b to program a and c", func() bool { return b.programmedFor(a, c) })
	if !a.reaches(b, 1) || !b.reaches(a, 2) {
		t.Fatal("no traffic between a and b once programmed")
	}

	// Updated: b's container gets another address; a forgets the old one
	// and tells its containers who has the new one.
	old := b.endpoint().IP
	b.publish(func(r *gossip.Record) { r.IP = ipOf(testNet, 20) })
	poll.Until(t, waitGossip, "a to program b's new address", func() bool { return a.programmedFor(b, c) })
	if _, ok := a.fdb.LookupIP(testNet.VNI, old); ok {
		t.Errorf("a still maps b's old address %v", old)
	}
	expectAnnounce(t, a, b.endpoint().IP)

	// Deleted: c withdraws its endpoint; a drops its rows and its VTEP.
	c.agent.Withdraw(c.endpoint().EndpointID)
	poll.Until(t, waitGossip, "a to drop c", func() bool { return a.programmedFor(b) })
	checkPeers(t, a, b.endpoint().VTEP)

	// Withdrawn: b leaves the cluster; its records go with it.
	if err := b.agent.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitGossip, "a to drop b, which left", func() bool { return a.programmedFor() })
	checkPeers(t, a)
	poll.Until(t, waitGossip, "a's zone to name only ca", func() bool {
		names, _ := a.zones.names(testNet.ID)
		return slices.Equal(names, []string{"ca"})
	})
}

// TestNodeDiesAndReturns: a node that crashes is withdrawn from the data
// plane once gossip declares it dead, and programmed again when it comes
// back (a new run, with a new boot).
func TestNodeDiesAndReturns(t *testing.T) {
	l := newLab(t)
	a := l.start("a", 1, testNet, 1)
	b := l.start("b", 2, testNet, 2, a)
	poll.Until(t, waitGossip, "a to program b", func() bool { return a.programmedFor(b) })

	b.stop()
	poll.Until(t, waitDead, "a to withdraw b, which died", func() bool { return a.programmedFor() })
	checkPeers(t, a)

	b = l.start("b", 2, testNet, 22, a)
	poll.Until(t, waitDead, "a to program b again", func() bool { return a.programmedFor(b) })
	checkPeers(t, a, b.endpoint().VTEP)
	if !a.reaches(b, 3) {
		t.Fatal("no traffic to b after it came back")
	}
}

// checkPeers fails unless nd's flood list is want: a broadcast from nd
// reaches them (checked by the flood list the engine was given).
func checkPeers(t *testing.T, nd *tnode, want ...netip.AddrPort) {
	t.Helper()
	got := Peers(nd.id, nd.agent.Records(nd.net.ID))
	if len(got)+len(want) > 0 && !slices.Equal(got, want) {
		t.Fatalf("%s's peers = %v; want %v", nd.id, got, want)
	}
	for _, p := range want {
		macs, _ := nd.rows()
		found := false
		for _, v := range macs {
			found = found || v == p
		}
		if !found {
			t.Fatalf("%s's FDB has no row behind peer %v", nd.id, p)
		}
	}
}

// expectAnnounce fails unless nd's TAP gets a gratuitous ARP for ip.
func expectAnnounce(t *testing.T, nd *tnode, ip netip.Addr) {
	t.Helper()
	for {
		f, ok := nd.tap.Next(waitGossip)
		if !ok {
			t.Fatalf("%s: no announcement of %v", nd.id, ip)
		}
		if len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && netip.AddrFrom4([4]byte(f[38:42])) == ip {
			return
		}
	}
}

// recordingPlane is a DataPlane that records what it is given.
type recordingPlane struct {
	mu    sync.Mutex
	calls []vtep.NetworkState
}

func (p *recordingPlane) Apply(_ uint32, s vtep.NetworkState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
	return nil
}

func (p *recordingPlane) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func (p *recordingPlane) last() vtep.NetworkState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[len(p.calls)-1]
}

// gatedRecords serves fixed records for network gated, but holds each
// read of it until the test lets it go, so that a test can act while a
// reconcile is in flight; other networks have no records.
type gatedRecords struct {
	gated   string
	recs    []gossip.Record
	reading chan struct{} // a read started
	release chan struct{} // let it finish
}

func (g *gatedRecords) Records(network string) []gossip.Record {
	if network != g.gated {
		return nil
	}
	g.reading <- struct{}{}
	<-g.release
	return g.recs
}

// TestForgetDuringSync: a network dropped while its records are being read
// is not programmed with them, its zone stays removed, and Forget does not
// wait for the read.
func TestForgetDuringSync(t *testing.T) {
	src := &gatedRecords{
		gated:   testNet.ID,
		recs:    []gossip.Record{{EndpointID: "e", Network: testNet.ID, Node: "b", MAC: macOf(2), IP: ipOf(testNet, 2), VTEP: vtepOf(2), Name: "cb"}},
		reading: make(chan struct{}), release: make(chan struct{}),
	}
	plane, z := &recordingPlane{}, &zones{m: map[string]resolver.Zone{}}
	r := New(Config{Node: "a", Records: src, Plane: plane, Zones: z, Resync: time.Hour, Log: testLog()})
	r.Start()
	defer r.Close()

	r.Track(testNet)
	<-src.reading
	r.Forget(testNet.ID) // would deadlock here if Forget waited for the read
	close(src.release)

	// A marker: a second network, scheduled after, is programmed only once
	// the first reconcile has finished.
	other := testNet
	other.ID, other.VNI = "net3", 3
	r.Track(other)
	poll.Until(t, waitGossip, "the marker network to be programmed", func() bool { return plane.count() > 0 })
	if n := plane.count(); n != 1 {
		t.Fatalf("%d networks programmed; want only the marker: the dropped one was programmed", n)
	}
	if _, ok := z.names(testNet.ID); ok {
		t.Error("the dropped network's zone was set after Forget")
	}
}

// TestTrackAgainKeepsSAs: a network this node drops and has again (its
// last container left, another came) reuses its SAs, so that sequence
// numbers go on and no nonce is used twice with one key.
func TestTrackAgainKeepsSAs(t *testing.T) {
	recs := []gossip.Record{{EndpointID: "e", Network: testSealed.ID, Node: "b", Boot: 2, KeyGen: 1, MAC: macOf(2), IP: ipOf(testSealed, 2), VTEP: vtepOf(2)}}
	src := &staticRecords{recs: recs}
	plane := &recordingPlane{}
	r := New(Config{Node: "a", Boot: 1, DataAddr: vtepOf(1).Addr(), Records: src, Plane: plane, Zones: &zones{m: map[string]resolver.Zone{}}, Resync: time.Hour, Log: testLog()})
	r.Start()
	defer r.Close()
	outbound := func() any {
		poll.Until(t, waitGossip, "SAs to be installed", func() bool {
			return plane.count() > 0 && plane.last().Crypto != nil && plane.last().Crypto.Out[vtepOf(2)] != nil
		})
		return plane.last().Crypto.Out[vtepOf(2)]
	}

	r.Track(testSealed)
	r.SetKeys(testSealed.ID, keysOf(1))
	first := outbound()
	r.Forget(testSealed.ID)
	plane.mu.Lock()
	plane.calls = nil
	plane.mu.Unlock()
	r.Track(testSealed)
	r.SetKeys(testSealed.ID, keysOf(1))
	if again := outbound(); again != first {
		t.Fatal("the network tracked again got a new Outbound for the same key: its sequence numbers start over")
	}
}

// staticRecords serves fixed records.
type staticRecords struct{ recs []gossip.Record }

func (s *staticRecords) Records(string) []gossip.Record { return s.recs }
