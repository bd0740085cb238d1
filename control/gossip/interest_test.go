package gossip

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// startWithNetworks starts agents joined through the first, each having the
// networks given for it, and waits until all are alive and everyone knows
// who has what.
func startWithNetworks(t *testing.T, c *testCluster, nets map[string][]string, ids ...string) []*Agent {
	t.Helper()
	agents := make([]*Agent, len(ids))
	for i, id := range ids {
		agents[i], _ = c.start(id)
		agents[i].SetInterest(nets[id])
		if i > 0 {
			if _, err := agents[i].Join([]string{c.addr(ids[0])}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAlive(t, agents, len(ids))
	for _, a := range agents {
		for _, b := range agents {
			for _, n := range nets[b.cfg.NodeID] {
				if a != b {
					poll.Until(t, 3*time.Second, a.cfg.NodeID+" to learn that "+b.cfg.NodeID+" has "+n, func() bool { return slices.Contains(a.Interested(n), b.cfg.NodeID) })
				}
			}
		}
	}
	return agents
}

// waitDrained waits until a's broadcasts of a network are all sent.
func waitDrained(t *testing.T, a *Agent, network string) {
	t.Helper()
	poll.Until(t, 3*time.Second, a.cfg.NodeID+"'s broadcasts of "+network+" to drain", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		q, ok := a.nets[network]
		return !ok || q.queue.NumQueued() == 0
	})
}

// TestRecordsReachOnlyMembersWithTheNetwork: records, updates and
// tombstones of a network reach exactly the nodes that have it, through
// broadcasts and through the periodic syncs that follow.
func TestRecordsReachOnlyMembersWithTheNetwork(t *testing.T) {
	const sync = 200 * time.Millisecond
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = sync })
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}, "c": {"n2"}, "d": {"n1", "n2"}}, "a", "b", "c", "d")
	a, b, cc, d := agents[0], agents[1], agents[2], agents[3]
	e1 := a.Publish(testRecord("n1", "e1", 1))
	e2 := cc.Publish(testRecord("n2", "e2", 2))
	for _, x := range []*Agent{b, d} {
		poll.Until(t, 2*time.Second, "e1 on "+x.cfg.NodeID, func() bool { return hasVisible(x, "n1", "e1", e1.Version) })
	}
	poll.Until(t, 2*time.Second, "e2 on d", func() bool { return hasVisible(d, "n2", "e2", e2.Version) })
	a.Withdraw("e1")
	for _, x := range []*Agent{b, d} {
		poll.Until(t, 2*time.Second, "e1's tombstone on "+x.cfg.NodeID, func() bool { r, _ := x.Record("e1"); return r.Deleted })
	}
	// A stray copy is not kept either.
	cc.merge([]Record{e1}, true)
	if _, ok := cc.Record("e1"); ok {
		t.Errorf("c kept a broadcast of n1, which it does not have")
	}
	// Nor does one come later. Once every queue is empty, only syncs are
	// left to carry a record; with d's packets to the others lost, markers
	// d publishes then reach them by syncs alone, which would have brought
	// e1 to c, or e2 to a and b, with them.
	for _, x := range agents {
		waitDrained(t, x, "n1")
		waitDrained(t, x, "n2")
	}
	from, _ := c.net.Addr("d")
	for _, x := range []string{"a", "b", "c"} {
		to, _ := c.net.Addr(x)
		c.net.BlockPackets(from, to, true)
	}
	m1 := d.Publish(testRecord("n1", "m1", 3))
	m2 := d.Publish(testRecord("n2", "m2", 4))
	for _, x := range []*Agent{a, b} {
		poll.Until(t, 3*time.Second, "m1 on "+x.cfg.NodeID+" by sync", func() bool { return hasVisible(x, "n1", "m1", m1.Version) })
	}
	poll.Until(t, 3*time.Second, "m2 on c by sync", func() bool { return hasVisible(cc, "n2", "m2", m2.Version) })
	for _, r := range []struct {
		on *Agent
		id string
	}{{cc, "e1"}, {a, "e2"}, {b, "e2"}} {
		if _, ok := r.on.Record(r.id); ok {
			t.Errorf("%s reached %s, which does not have its network", r.id, r.on.cfg.NodeID)
		}
	}
}

// TestNewNetworkIsFilledAtOnce: a node that takes on a network gets its
// records from the owners and a pull, without waiting for a periodic sync;
// one that drops it forgets them and hears no more of it.
func TestNewNetworkIsFilledAtOnce(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = time.Hour })
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}, "c": {"n2"}}, "a", "b", "c")
	a, b, cc := agents[0], agents[1], agents[2]
	a.Publish(testRecord("n1", "ea", 1))
	b.Publish(testRecord("n1", "eb", 2))
	poll.Until(t, 2*time.Second, "n1 on a and b", func() bool { return len(a.Records("n1")) == 2 && len(b.Records("n1")) == 2 })

	start := time.Now()
	cc.SetInterest([]string{"n1", "n2"})
	poll.Until(t, 2*time.Second, "n1's records on c", func() bool { return len(cc.Records("n1")) == 2 })
	t.Logf("c had n1's records %v after taking it on", time.Since(start))
	for _, x := range []*Agent{a, b} {
		poll.Until(t, 2*time.Second, x.cfg.NodeID+" to learn that c has n1", func() bool { return slices.Contains(x.Interested("n1"), "c") })
	}

	cc.SetInterest([]string{"n2"})
	if got := cc.Records("n1"); len(got) != 0 {
		t.Errorf("c's n1 records after dropping n1: %+v; want none", got)
	}
	if _, ok := cc.Record("ea"); ok {
		t.Errorf("c still holds ea after dropping n1")
	}
	for _, x := range []*Agent{a, b} {
		poll.Until(t, 2*time.Second, x.cfg.NodeID+" to learn that c dropped n1", func() bool { return !slices.Contains(x.Interested("n1"), "c") })
	}
	a.Publish(testRecord("n1", "later", 3))
	poll.Until(t, 2*time.Second, "later on b", func() bool { return hasVisible(b, "n1", "later", 0) })
	// Nor later: once a and b have sent every broadcast of later, a marker
	// that a sends to every member, its interest in a new network, reaches
	// c after any copy of later would have.
	waitDrained(t, a, "n1")
	waitDrained(t, b, "n1")
	a.SetInterest([]string{"n1", "n3"})
	poll.Until(t, 2*time.Second, "a's interest in n3 on c", func() bool { return slices.Contains(cc.Interested("n3"), "a") })
	if _, ok := cc.Record("later"); ok {
		t.Errorf("c got a record of a network it dropped")
	}
}

// TestRestartWithdrawsRecordsOfANetworkLeft: a node that comes back without
// a network it had, and without its records there, withdraws the copies the
// others hold, although it no longer has that network.
func TestRestartWithdrawsRecordsOfANetworkLeft(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}}, "a", "b")
	a, b := agents[0], agents[1]
	b.Publish(testRecord("n1", "old", 1))
	poll.Until(t, 2*time.Second, "old on a", func() bool { return hasVisible(a, "n1", "old", 0) })
	// Let a's relays of old go out first, so that only a sync can bring it
	// to b's next run.
	waitDrained(t, a, "n1")
	b.Shutdown()
	back, _ := c.start("b")
	back.SetInterest([]string{"n2"})
	if _, err := back.Join([]string{c.addr("a")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "old withdrawn on a", func() bool { r, _ := a.Record("old"); return r.Deleted })
	if got := a.Interested("n1"); len(got) != 0 {
		t.Errorf("a.Interested(n1) = %v after b came back without it; want none", got)
	}
}

// TestWrongInterestClaimIsRefuted: a claim that a node has a network it
// does not have, made in its name, is answered by the node.
func TestWrongInterestClaimIsRefuted(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}}, "a", "b")
	a, b := agents[0], agents[1]
	b.mergeInterests([]interest{{Node: "a", Network: "n9", Life: a.life, Version: ahead()}}, true)
	if got := b.Interested("n9"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("b.Interested(n9) = %v right after the claim; want [a]", got)
	}
	poll.Until(t, 2*time.Second, "a's refutation on b", func() bool { return len(b.Interested("n9")) == 0 })
	if got := b.Interested("n1"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("b.Interested(n1) = %v; want [a]", got)
	}
}

// TestInterestOfDownMemberDoesNotCount: a member that dies or leaves no
// longer has any network.
func TestInterestOfDownMemberDoesNotCount(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}, "c": {"n1"}}, "a", "b", "c")
	a, b := agents[0], agents[1]
	go func() { _ = agents[2].Leave(time.Second) }()
	poll.Until(t, 2*time.Second, "c gone from a's view of n1", func() bool { return slices.Equal(a.Interested("n1"), []string{"b"}) })
	b.Shutdown()
	poll.Until(t, 5*time.Second, "b gone from a's view of n1", func() bool { return len(a.Interested("n1")) == 0 })
}

func TestSetInterestIgnoresBadIDs(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a")
	a.SetInterest([]string{"", string(make([]byte, 256)), "ok"})
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.local) != 1 || !a.local["ok"] {
		t.Errorf("local networks = %v; want only ok", a.local)
	}
}

func TestSyncScale(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{1, 1}, {32, 1}, {33, 2}, {64, 2}, {65, 3}, {200, 4}, {5000, 9}} {
		if got := syncScale(tt.n); got != tt.want {
			t.Errorf("syncScale(%d) = %d; want %d", tt.n, got, tt.want)
		}
	}
}

// TestQueueDroppedWithoutPeers: broadcasts of a network no other member has
// are dropped rather than kept queued forever.
func TestQueueDroppedWithoutPeers(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"a": {"solo"}, "b": {"other"}}, "a", "b")
	a := agents[0]
	for i := range 100 {
		id := fmt.Sprintf("e%d", i)
		a.Publish(testRecord("solo", id, i))
		a.Withdraw(id)
	}
	poll.Until(t, time.Second, "solo's queue to be dropped", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.nets["solo"].queue.NumQueued() == 0
	})
}

// TestEarlierLifeCannotShadowInterest: an interest an earlier run of a node
// said, with a higher version (its clock stepped back across the restart),
// does not hide what the current run says.
func TestEarlierLifeCannotShadowInterest(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"x": {"n1"}, "y": {"n1"}}, "x", "y")
	x, y := agents[0], agents[1]
	stale := interest{Node: "x", Network: "n1", Life: x.life ^ 2, Version: ahead(), Left: true}
	y.mergeInterests([]interest{stale}, true)
	if got := y.Interested("n1"); !slices.Equal(got, []string{"x"}) {
		t.Errorf("y.Interested(n1) = %v after an earlier life's newer leave; want [x]", got)
	}
}

// TestPullWaitsForAPeer: a node that takes a network on before it knows
// anyone who has it pulls the set as soon as it learns of one, so it gets
// what only a sync can bring (here a tombstone whose owner is gone) without
// waiting for a periodic sync.
func TestPullWaitsForAPeer(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = time.Hour })
	agents := startWithNetworks(t, c, map[string][]string{"b": {"n1"}, "o": {"n1"}}, "b", "o")
	b, o := agents[0], agents[1]
	o.Publish(testRecord("n1", "gone", 1))
	o.Withdraw("gone")
	poll.Until(t, 2*time.Second, "gone's tombstone on b", func() bool { r, _ := b.Record("gone"); return r.Deleted })
	o.Shutdown()
	waitDrained(t, b, "n1")    // so that only a sync can bring the tombstone
	late, _ := c.start("late") // has n1 before it joins
	if _, err := late.Join([]string{c.addr("b")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 2*time.Second, "gone's tombstone on the late joiner", func() bool { r, _ := late.Record("gone"); return r.Deleted })
}

// TestSyncFromOwnerNotYetKnown: a sync's live records are kept when their
// owner sent them, even before memberlist made it a member here.
func TestSyncFromOwnerNotYetKnown(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a")
	r := testRecord("n1", "e1", 1)
	r.Node, r.Version = "newcomer", 5
	a.mergeFrom([]Record{r}, false, "someone-else")
	if _, ok := a.Record("e1"); ok {
		t.Fatalf("a third party's sync of an unknown owner's live record was kept")
	}
	a.mergeFrom([]Record{r}, false, "newcomer")
	if _, ok := a.Record("e1"); !ok {
		t.Errorf("the owner's own sync was dropped")
	}
}

// TestPushCarriesOnlyOwnRecords: an owner's push holds its own records of
// the network, tombstones included, and nobody else's.
func TestPushCarriesOnlyOwnRecords(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a")
	a.Publish(testRecord("n1", "mine", 1))
	a.Publish(testRecord("n1", "old", 2))
	a.Withdraw("old")
	a.Publish(testRecord("n2", "elsewhere", 3))
	theirs := testRecord("n1", "theirs", 4)
	theirs.Node, theirs.Version = "b", 9
	a.merge([]Record{theirs}, true)
	a.mu.Lock()
	got := a.ownRecordsLocked("n1")
	a.mu.Unlock()
	ids := make([]string, len(got))
	for i, r := range got {
		ids[i] = r.EndpointID
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"mine", "old"}) {
		t.Errorf("push of n1 carries %v; want [mine old]", ids)
	}
}
