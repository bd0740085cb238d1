package reconcile

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/poll"
)

func TestNewerKeys(t *testing.T) {
	tests := []struct {
		name          string
		held, fetched []store.Key
		want          bool
	}{
		{"first keys", nil, keysOf(1), true},
		{"nothing fetched", keysOf(1), nil, false},
		{"same", keysOf(3, 2, 1), keysOf(3, 2, 1), false},
		{"a rotation", keysOf(3, 2, 1), keysOf(4, 3, 2), true},
		{"a lagging manager", keysOf(4, 3, 2), keysOf(3, 2, 1), false},
	}
	for _, tt := range tests {
		if got := newerKeys(tt.held, tt.fetched); got != tt.want {
			t.Errorf("%s: newerKeys = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestSendKey(t *testing.T) {
	keys := keysOf(5, 4, 3)
	for _, tt := range []struct {
		peer uint64
		want uint64 // 0: none
	}{{6, 5}, {5, 5}, {4, 4}, {3, 3}, {2, 0}, {0, 0}} {
		k, ok := sendKey(keys, tt.peer)
		if got := map[bool]uint64{true: k.Generation}[ok]; got != tt.want {
			t.Errorf("sendKey(peer opens %d) = generation %d; want %d", tt.peer, got, tt.want)
		}
	}
}

func TestPeerRuns(t *testing.T) {
	vtep := netip.MustParseAddrPort("198.18.0.2:4789")
	recs := []gossip.Record{
		{Node: "self", Boot: 1, KeyGen: 9, Version: 1},
		{Node: "b", Boot: 7, KeyGen: 3, Version: 10, VTEP: vtep},
		{Node: "b", Boot: 7, KeyGen: 2, Version: 11, VTEP: vtep}, // in flight: the lower counts
		{Node: "b", Boot: 6, KeyGen: 9, Version: 5, VTEP: vtep},  // an earlier run
	}
	runs := peerRuns("self", recs)
	if len(runs) != 1 {
		t.Fatalf("peerRuns = %+v; want one run of b", runs)
	}
	if r := runs[0]; r.node != "b" || r.boot != 7 || r.keyGen != 2 || r.vtep != vtep {
		t.Errorf("peerRuns = %+v; want b, boot 7, KeyGen 2", r)
	}
}

// TestSAsOutliveTheirPeer: an SA is the same object for as long as its
// generation is live, whether its peer went away or not, and a retired
// generation is never derived again.
func TestSAsOutliveTheirPeer(t *testing.T) {
	r := New(Config{Log: testLog()})
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	k1 := saKey{out: true, from: "a/1", to: "b/2", gen: 1}
	keys := keysOf(2, 1)
	first := r.sa(r.saCache("net", keys), k1, keys[1].Key, "net", src, dst)
	if first == nil || first.outbound == nil {
		t.Fatal("no Outbound made")
	}
	buf := make([]byte, 200)
	if _, err := first.outbound.Seal(buf, 60); err != nil {
		t.Fatal(err)
	}
	// The peer is gone for a while: nothing asks for its SA.
	r.saCache("net", keys)
	again := r.sa(r.saCache("net", keys), k1, keys[1].Key, "net", src, dst)
	if again != first || again.outbound.Seq() != 1 {
		t.Fatalf("the SA came back as %p with sequence %d; want %p, 1", again, again.outbound.Seq(), first)
	}
	// Generation 1 retires: its SA goes, and is never made again.
	if e := r.sa(r.saCache("net", keysOf(4, 3, 2)), k1, keys[1].Key, "net", src, dst); e != nil {
		t.Errorf("an SA of retired generation 1 was made again")
	}
}

// TestSAsInstalledAndRotated runs two nodes of an encrypted network through
// a key rotation: traffic flows sealed from the first keys on; a node that
// holds a new generation opens it at once but seals with it only once its
// peer says it opens it too; a retired generation's SAs go.
func TestSAsInstalledAndRotated(t *testing.T) {
	l := newLab(t)
	a := l.start("a", 1, testSealed, 1)
	b := l.start("b", 2, testSealed, 2, a)
	for _, nd := range []*tnode{a, b} {
		nd.rec.SetKeys(testSealed.ID, keysOf(1))
	}
	poll.Until(t, waitGossip, "both to seal with generation 1", func() bool {
		return sealsWith(a, 1) && sealsWith(b, 1)
	})
	if !a.reaches(b, 1) || !b.reaches(a, 2) {
		t.Fatal("no sealed traffic between a and b")
	}

	// a learns generation 2 first: it opens it, says so, and goes on
	// sealing with 1, which b still needs.
	a.rec.SetKeys(testSealed.ID, keysOf(2, 1))
	poll.Until(t, waitGossip, "a to advertise generation 2", func() bool {
		r, ok := b.agent.Record(a.endpoint().EndpointID)
		return ok && r.KeyGen == 2
	})
	if !opens(a, 2) || !sealsWith(a, 1) {
		t.Fatalf("a's SAs %+v; want it to open generation 2 and seal with 1", a.rec.SAs(testSealed.ID))
	}
	if !a.reaches(b, 3) || !b.reaches(a, 4) {
		t.Fatal("no traffic while only a holds generation 2")
	}

	// b learns it too: both seal with 2.
	b.rec.SetKeys(testSealed.ID, keysOf(2, 1))
	poll.Until(t, waitGossip, "both to seal with generation 2", func() bool {
		return sealsWith(a, 2) && sealsWith(b, 2)
	})
	if !a.reaches(b, 5) || !b.reaches(a, 6) {
		t.Fatal("no traffic after both moved to generation 2")
	}

	// Generation 1 retires: its SAs go.
	for _, nd := range []*tnode{a, b} {
		nd.rec.SetKeys(testSealed.ID, keysOf(3, 2))
	}
	poll.Until(t, waitGossip, "both to seal with generation 3", func() bool {
		return sealsWith(a, 3) && sealsWith(b, 3)
	})
	for _, sa := range a.rec.SAs(testSealed.ID) {
		if sa.Generation == 1 {
			t.Errorf("a still holds an SA of retired generation 1: %+v", sa)
		}
	}
	if !a.reaches(b, 7) {
		t.Fatal("no traffic after generation 1 retired")
	}
}

// sealsWith reports whether nd's active outbound SA is of generation gen.
func sealsWith(nd *tnode, gen uint64) bool {
	return slices.ContainsFunc(nd.rec.SAs(nd.net.ID), func(sa api.SA) bool {
		return sa.Direction == "out" && sa.Active && sa.Generation == gen
	}) && !slices.ContainsFunc(nd.rec.SAs(nd.net.ID), func(sa api.SA) bool {
		return sa.Direction == "out" && sa.Active && sa.Generation != gen
	})
}

// opens reports whether nd has an active inbound SA of generation gen.
func opens(nd *tnode, gen uint64) bool {
	return slices.ContainsFunc(nd.rec.SAs(nd.net.ID), func(sa api.SA) bool {
		return sa.Direction == "in" && sa.Active && sa.Generation == gen
	})
}

// fakeState serves the managers' state for key following, and counts the
// fetches.
type fakeState struct {
	mu      sync.Mutex
	keys    []store.Key
	fetches int
}

func (f *fakeState) state(context.Context) (*store.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	st := store.NewState()
	st.Networks[testSealed.ID] = &store.Network{ID: testSealed.ID, Name: testSealed.Name, Encrypted: true, Keys: f.keys}
	return st, nil
}

func (f *fakeState) set(keys []store.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
}

func (f *fakeState) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches
}

// TestKeysFollowed: the reconciler takes the managers' data keys of the
// encrypted networks it tracks, ignores a lagging manager's older ones,
// and asks for none while it tracks only plaintext networks.
func TestKeysFollowed(t *testing.T) {
	managers := &fakeState{keys: keysOf(2, 1)}
	r := New(Config{Node: "a", Records: &staticRecords{}, Plane: &recordingPlane{}, Zones: &zones{m: map[string]resolver.Zone{}},
		State: managers.state, KeyPoll: 5 * time.Millisecond, Resync: time.Hour, Log: testLog()})
	r.Start()
	defer r.Close()

	r.Track(testNet)
	r.Track(testSealed)
	poll.Until(t, waitGossip, "generations 2 and 1", func() bool { return newestGen(r.Keys(testSealed.ID)) == 2 })
	managers.set(keysOf(1)) // a manager that lags
	managers.set(keysOf(3, 2, 1))
	poll.Until(t, waitGossip, "generation 3", func() bool { return newestGen(r.Keys(testSealed.ID)) == 3 })
	managers.set(keysOf(2, 1))
	start := managers.count()
	poll.Until(t, waitGossip, "two more fetches", func() bool { return managers.count() >= start+2 })
	if got := newestGen(r.Keys(testSealed.ID)); got != 3 {
		t.Errorf("after a lagging manager's keys: newest generation %d; want 3", got)
	}

	r.Forget(testSealed.ID)
	if len(r.Keys(testSealed.ID)) != 0 {
		t.Error("the keys of a forgotten network are still held")
	}
}

// TestNoKeysForPlaintext: with only plaintext networks tracked, nothing is
// fetched.
func TestNoKeysForPlaintext(t *testing.T) {
	managers := &fakeState{keys: keysOf(1)}
	r := New(Config{Node: "a", State: managers.state, Log: testLog()})
	r.Track(testNet)
	r.followKeys()
	if n := managers.count(); n != 0 {
		t.Errorf("%d fetches with only a plaintext network; want none", n)
	}
	r.Track(testSealed)
	r.followKeys()
	if n, gen := managers.count(), newestGen(r.Keys(testSealed.ID)); n != 1 || gen != 1 {
		t.Errorf("with an encrypted network: %d fetches, newest generation %d; want 1 and 1", n, gen)
	}
}
