package gossip

import (
	"fmt"
	"slices"
	"testing"
	"time"
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
					waitFor(t, 3*time.Second, func() bool { return slices.Contains(a.Interested(n), b.cfg.NodeID) },
						a.cfg.NodeID+" to learn that "+b.cfg.NodeID+" has "+n)
				}
			}
		}
	}
	return agents
}

// waitDrained waits until a's broadcasts of a network are all sent.
func waitDrained(t *testing.T, a *Agent, network string) {
	t.Helper()
	waitFor(t, 3*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		q, ok := a.nets[network]
		return !ok || q.queue.NumQueued() == 0
	}, a.cfg.NodeID+"'s broadcasts of "+network+" to drain")
}

// never fails the test if cond becomes true within d.
func never(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			t.Fatalf("%s", what)
		}
	}
}

// TestRecordsReachOnlyMembersWithTheNetwork: records, updates and
// tombstones of a network reach exactly the nodes that have it, through
// broadcasts and through several rounds of periodic sync.
func TestRecordsReachOnlyMembersWithTheNetwork(t *testing.T) {
	const sync = 200 * time.Millisecond
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = sync })
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}, "c": {"n2"}, "d": {"n1", "n2"}}, "a", "b", "c", "d")
	a, b, cc, d := agents[0], agents[1], agents[2], agents[3]
	e1 := a.Publish(testRecord("n1", "e1", 1))
	e2 := cc.Publish(testRecord("n2", "e2", 2))
	for _, x := range []*Agent{b, d} {
		waitFor(t, 2*time.Second, func() bool { return hasVisible(x, "n1", "e1", e1.Version) }, "e1 on "+x.cfg.NodeID)
	}
	waitFor(t, 2*time.Second, func() bool { return hasVisible(d, "n2", "e2", e2.Version) }, "e2 on d")
	a.Withdraw("e1")
	for _, x := range []*Agent{b, d} {
		waitFor(t, 2*time.Second, func() bool { r, _ := x.Record("e1"); return r.Deleted }, "e1's tombstone on "+x.cfg.NodeID)
	}
	// A stray copy is not kept either.
	cc.merge([]Record{e1}, true)
	if _, ok := cc.Record("e1"); ok {
		t.Errorf("c kept a broadcast of n1, which it does not have")
	}
	never(t, 6*sync, func() bool {
		_, e1OnC := cc.Record("e1")
		_, e2OnA := a.Record("e2")
		_, e2OnB := b.Record("e2")
		return e1OnC || e2OnA || e2OnB
	}, "a record reached a node without its network")
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
	waitFor(t, 2*time.Second, func() bool { return len(a.Records("n1")) == 2 && len(b.Records("n1")) == 2 }, "n1 on a and b")

	start := time.Now()
	cc.SetInterest([]string{"n1", "n2"})
	waitFor(t, 2*time.Second, func() bool { return len(cc.Records("n1")) == 2 }, "n1's records on c")
	t.Logf("c had n1's records %v after taking it on", time.Since(start))
	for _, x := range []*Agent{a, b} {
		waitFor(t, 2*time.Second, func() bool { return slices.Contains(x.Interested("n1"), "c") }, x.cfg.NodeID+" to learn that c has n1")
	}

	cc.SetInterest([]string{"n2"})
	if got := cc.Records("n1"); len(got) != 0 {
		t.Errorf("c's n1 records after dropping n1: %+v; want none", got)
	}
	if _, ok := cc.Record("ea"); ok {
		t.Errorf("c still holds ea after dropping n1")
	}
	for _, x := range []*Agent{a, b} {
		waitFor(t, 2*time.Second, func() bool { return !slices.Contains(x.Interested("n1"), "c") }, x.cfg.NodeID+" to learn that c dropped n1")
	}
	a.Publish(testRecord("n1", "later", 3))
	waitFor(t, 2*time.Second, func() bool { return hasVisible(b, "n1", "later", 0) }, "later on b")
	never(t, time.Second, func() bool { _, ok := cc.Record("later"); return ok }, "c got a record of a network it dropped")
}

// TestRestartWithdrawsRecordsOfANetworkLeft: a node that comes back without
// a network it had, and without its records there, withdraws the copies the
// others hold, although it no longer has that network.
func TestRestartWithdrawsRecordsOfANetworkLeft(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"a": {"n1"}, "b": {"n1"}}, "a", "b")
	a, b := agents[0], agents[1]
	b.Publish(testRecord("n1", "old", 1))
	waitFor(t, 2*time.Second, func() bool { return hasVisible(a, "n1", "old", 0) }, "old on a")
	// Let a's relays of old go out first, so that only a sync can bring it
	// to b's next run.
	waitDrained(t, a, "n1")
	b.Shutdown()
	back, _ := c.start("b")
	back.SetInterest([]string{"n2"})
	if _, err := back.Join([]string{c.addr("a")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { r, _ := a.Record("old"); return r.Deleted }, "old withdrawn on a")
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
	b.mergeInterests([]interest{{Node: "a", Network: "n9", Life: a.life, Version: 1 << 62}}, true)
	if got := b.Interested("n9"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("b.Interested(n9) = %v right after the claim; want [a]", got)
	}
	waitFor(t, 2*time.Second, func() bool { return len(b.Interested("n9")) == 0 }, "a's refutation on b")
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
	waitFor(t, 2*time.Second, func() bool { return slices.Equal(a.Interested("n1"), []string{"b"}) }, "c gone from a's view of n1")
	b.Shutdown()
	waitFor(t, 5*time.Second, func() bool { return len(a.Interested("n1")) == 0 }, "b gone from a's view of n1")
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
	waitFor(t, time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.nets["solo"].queue.NumQueued() == 0
	}, "solo's queue to be dropped")
}

// TestEarlierLifeCannotShadowInterest: an interest an earlier run of a node
// said, with a higher version (its clock stepped back across the restart),
// does not hide what the current run says.
func TestEarlierLifeCannotShadowInterest(t *testing.T) {
	c := newTestCluster(t, nil)
	agents := startWithNetworks(t, c, map[string][]string{"x": {"n1"}, "y": {"n1"}}, "x", "y")
	x, y := agents[0], agents[1]
	stale := interest{Node: "x", Network: "n1", Life: x.life ^ 2, Version: 1 << 62, Left: true}
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
	waitFor(t, 2*time.Second, func() bool { r, _ := b.Record("gone"); return r.Deleted }, "gone's tombstone on b")
	o.Shutdown()
	waitDrained(t, b, "n1")    // so that only a sync can bring the tombstone
	late, _ := c.start("late") // has n1 before it joins
	if _, err := late.Join([]string{c.addr("b")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() bool { r, _ := late.Record("gone"); return r.Deleted }, "gone's tombstone on the late joiner")
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
