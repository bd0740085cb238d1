package gossip

import (
	"slices"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip/gossiptest"
	"github.com/weftnet/weft/internal/poll"
)

func TestPublishReachesEveryone(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, recs := c.startJoined("a", "b", "c")
	want := agents[0].Publish(testRecord("n1", "e1", 1))
	if want.Node != "a" || want.Version == 0 {
		t.Fatalf("Publish returned Node %q, Version %d; want a, non-zero", want.Node, want.Version)
	}
	for i, a := range agents {
		poll.Until(t, 3*time.Second, "e1 on "+a.cfg.NodeID, func() bool { return hasVisible(a, "n1", "e1", want.Version) })
		got := a.Records("n1")
		if len(got) != 1 || !recordsEqual(got[0], want) {
			t.Errorf("%s: got %+v; want [%+v]", a.cfg.NodeID, got, want)
		}
		poll.Until(t, time.Second, "RecordsChanged(n1)", func() bool { return recs[i].recordsCalls("n1") > 0 })
	}
}

func TestUpdateWinsByVersion(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, _ := c.startJoined("a", "b", "c")
	first := agents[0].Publish(testRecord("n1", "e1", 1))
	update := testRecord("n1", "e1", 2)
	second := agents[0].Publish(update)
	if second.Version <= first.Version {
		t.Fatalf("second version %d; want above %d", second.Version, first.Version)
	}
	for _, a := range agents {
		poll.Until(t, 3*time.Second, "update on "+a.cfg.NodeID, func() bool { return hasVisible(a, "n1", "e1", second.Version) })
	}
	// A late copy of the old version changes nothing.
	agents[1].merge([]Record{first}, true)
	if got, _ := agents[1].Record("e1"); got.Version != second.Version || got.IP != update.IP {
		t.Errorf("after stale merge: got version %d IP %v; want %d %v", got.Version, got.IP, second.Version, update.IP)
	}
}

func TestWithdrawLeavesTombstoneThenPurges(t *testing.T) {
	const ttl = time.Second
	c := newTestCluster(t, func(cfg *Config) { cfg.TombstoneTTL = ttl })
	agents, _ := c.startJoined("a", "b", "c")
	agents[0].Publish(testRecord("n1", "e1", 1))
	for _, a := range agents {
		poll.Until(t, 3*time.Second, "e1 on "+a.cfg.NodeID, func() bool { return hasVisible(a, "n1", "e1", 0) })
	}
	if agents[1].Withdraw("e1") {
		t.Errorf("b.Withdraw(a's record) = true; want false")
	}
	if agents[0].Withdraw("nope") {
		t.Errorf("Withdraw(unknown) = true; want false")
	}
	if !agents[0].Withdraw("e1") {
		t.Fatalf("a.Withdraw(e1) = false; want true")
	}
	for _, a := range agents {
		poll.Until(t, ttl/2, "tombstone on "+a.cfg.NodeID, func() bool { r, ok := a.Record("e1"); return ok && r.Deleted })
		if got := a.Records("n1"); len(got) != 0 {
			t.Errorf("%s: Records after withdraw = %+v; want none", a.cfg.NodeID, got)
		}
	}
	for _, a := range agents {
		poll.Until(t, 2*ttl+time.Second, "purge on "+a.cfg.NodeID, func() bool { _, ok := a.Record("e1"); return !ok })
	}
}

// TestLateJoinerGetsItsNetworks: a node that joins late is sent the
// records and tombstones of its networks at once, by the owners and by a
// pull, without waiting for a periodic sync.
func TestLateJoinerGetsItsNetworks(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = time.Hour })
	agents, _ := c.startJoined("a", "b")
	ra := agents[0].Publish(testRecord("n1", "ea", 1))
	rb := agents[1].Publish(testRecord("n1", "eb", 2))
	agents[1].Publish(testRecord("n2", "gone", 3))
	agents[1].Withdraw("gone")
	for _, a := range agents {
		poll.Until(t, 3*time.Second, "records on "+a.cfg.NodeID, func() bool { return len(a.Records("n1")) == 2 })
	}
	late, _ := c.start("late")
	start := time.Now()
	if _, err := late.Join([]string{c.addr("a")}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 2*time.Second, "n1's records on the late joiner", func() bool { return len(late.Records("n1")) == 2 })
	t.Logf("late joiner had its networks' records %v after Join", time.Since(start))
	got := late.Records("n1")
	if !recordsEqual(got[0], ra) || !recordsEqual(got[1], rb) {
		t.Errorf("late joiner's records: got %+v; want [%+v %+v]", got, ra, rb)
	}
	poll.Until(t, 2*time.Second, "the tombstone of gone on the late joiner", func() bool { r, ok := late.Record("gone"); return ok && r.Deleted })
}

// TestSyncRepairsMissedBroadcasts: with every packet from a to b lost, the
// periodic sync over streams still brings b the record.
func TestSyncRepairsMissedBroadcasts(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) { cfg.PushPullInterval = 300 * time.Millisecond })
	agents, _ := c.startJoined("a", "b")
	from, _ := c.net.Addr("a")
	to, _ := c.net.Addr("b")
	c.net.BlockPackets(from, to, true) // b hears no gossip from a, only streams
	r := agents[0].Publish(testRecord("n1", "e1", 1))
	start := time.Now()
	poll.Until(t, 3*time.Second, "e1 on b by sync", func() bool { return hasVisible(agents[1], "n1", "e1", r.Version) })
	t.Logf("repaired by sync after %v", time.Since(start))
}

func TestConcurrentPublishConverges(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, _ := c.startJoined("a", "b", "c")
	agents[0].Publish(testRecord("n1", "e1", 1))
	agents[1].Publish(testRecord("n1", "e1", 2))
	poll.Until(t, 5*time.Second, "all nodes to hold the same e1", func() bool {
		first, ok := agents[0].Record("e1")
		for _, a := range agents[1:] {
			r, ok2 := a.Record("e1")
			if !ok || !ok2 || !recordsEqual(r, first) {
				return false
			}
		}
		return true
	})
}

func TestConflictingCopiesResolveDeterministically(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, _ := c.startJoined("a", "b", "c")
	// Two copies with the same version from different owners, as a clock
	// collision could make; each reaches a different node first.
	// The owners are not members, so that no node refutes a copy as its own.
	x := testRecord("n1", "e1", 1)
	x.Node, x.Version = "p", 1_000
	y := testRecord("n1", "e1", 2)
	y.Node, y.Version = "q", 1_000
	agents[0].merge([]Record{x}, true)
	agents[1].merge([]Record{y}, true)
	agents[2].merge([]Record{y, x}, true)
	for _, a := range agents {
		poll.Until(t, 3*time.Second, "q's copy (higher node) on "+a.cfg.NodeID, func() bool { r, _ := a.Record("e1"); return recordsEqual(r, y) })
	}
}

func TestRefuteCopiesFromEarlierRun(t *testing.T) {
	tests := []struct {
		name        string
		publish     bool // the node publishes e1 in this run first
		incoming    Record
		wantDeleted bool
	}{
		{"unknown record of ours is deleted", false, Record{EndpointID: "e1", Network: "n1", Node: "a", Version: ahead()}, true},
		{"newer copy of our live record is outbid", true, Record{EndpointID: "e1", Network: "n1", Node: "a", Version: ahead()}, false},
		{"newer tombstone of our live record is outbid", true, Record{EndpointID: "e1", Network: "n1", Node: "a", Version: ahead(), Deleted: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestCluster(t, nil).start("a")
			if tt.publish {
				a.Publish(testRecord("n1", "e1", 1))
			}
			a.merge([]Record{tt.incoming}, false)
			got, _ := a.Record("e1")
			if got.Deleted != tt.wantDeleted || got.Version <= tt.incoming.Version || got.Node != "a" {
				t.Errorf("got deleted %v version %d node %q; want deleted %v, version above %d, node a",
					got.Deleted, got.Version, got.Node, tt.wantDeleted, tt.incoming.Version)
			}
		})
	}
}

// TestKilledMemberHiddenThenRestored shuts a member down without Leave, as
// SIGKILL would, with DefaultConfig timings: within 3 s every other member
// must hide its records. A new agent under the same node ID that re-publishes
// brings them back, and withdraws what it did not re-publish.
func TestKilledMemberHiddenThenRestored(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, recs := c.startJoined("a", "b", "c", "d")
	victim, others := agents[3], agents[:3]
	victim.Publish(testRecord("n1", "keep", 1))
	victim.Publish(testRecord("n1", "stale", 2))
	for _, a := range others {
		poll.Until(t, 3*time.Second, "d's records on "+a.cfg.NodeID, func() bool { return len(a.Records("n1")) == 2 })
	}

	start := time.Now()
	victim.Shutdown()
	poll.Until(t, 5*time.Second, "d's records to be hidden everywhere", func() bool {
		for _, a := range others {
			if len(a.Records("n1")) != 0 {
				return false
			}
		}
		return true
	})
	took := time.Since(start)
	t.Logf("killed member's records hidden everywhere after %v", took)
	if took >= 3*time.Second {
		t.Errorf("hiding took %v; want under 3s", took)
	}
	for i, a := range others {
		if r, ok := a.Record("keep"); !ok || r.Deleted {
			t.Errorf("%s: Record(keep) = %+v, %v; want it kept, hidden", a.cfg.NodeID, r, ok)
		}
		poll.Until(t, time.Second, "MemberChanged(d dead)", func() bool { return recs[i].sawMember("d", StateDead) })
	}

	before := recs[0].recordsCalls("n1")
	back, _ := c.start("d")
	want := back.Publish(testRecord("n1", "keep", 9))
	if _, err := back.Join([]string{c.addr("a")}); err != nil {
		t.Fatal(err)
	}
	for i, a := range others {
		poll.Until(t, 5*time.Second, "only d's re-published record on "+a.cfg.NodeID, func() bool {
			got := a.Records("n1")
			return len(got) == 1 && recordsEqual(got[0], want)
		})
		poll.Until(t, time.Second, "MemberChanged(d alive)", func() bool { return recs[i].sawMember("d", StateAlive) })
	}
	if recs[0].recordsCalls("n1") <= before {
		t.Errorf("no RecordsChanged(n1) after d came back")
	}
}

func TestLeaveHidesRecordsAtOnce(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, recs := c.startJoined("a", "b", "c")
	leaver, others := agents[2], agents[:2]
	leaver.Publish(testRecord("n1", "e1", 1))
	for _, a := range others {
		poll.Until(t, 3*time.Second, "e1 on "+a.cfg.NodeID, func() bool { return hasVisible(a, "n1", "e1", 0) })
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- leaver.Leave(2 * time.Second) }()
	poll.Until(t, 2*time.Second, "e1 to be hidden", func() bool {
		return len(others[0].Records("n1")) == 0 && len(others[1].Records("n1")) == 0
	})
	took := time.Since(start)
	t.Logf("left member's records hidden after %v", took)
	if took >= time.Second {
		t.Errorf("hiding took %v; want well under 1s", took)
	}
	if err := <-done; err != nil {
		t.Errorf("Leave: %v", err)
	}
	for i := range others {
		poll.Until(t, 2*time.Second, "MemberChanged(c left)", func() bool { return recs[i].sawMember("c", StateLeft) })
		if recs[i].sawMember("c", StateDead) {
			t.Errorf("%s saw c dead; want only left", others[i].cfg.NodeID)
		}
	}
	if got := leaver.LocalNode().State; got != StateLeft {
		t.Errorf("leaver's LocalNode().State = %v; want left", got)
	}
}

func TestMembers(t *testing.T) {
	c := newTestCluster(t, nil)
	agents, _ := c.startJoined("b", "a", "c")
	got := agents[0].Members()
	ids := make([]string, len(got))
	for i, m := range got {
		ids[i] = m.ID
		want, _ := c.net.Addr(m.ID)
		if m.Addr != want || m.Meta.Hostname != m.ID || m.State != StateAlive {
			t.Errorf("member %s: got addr %v host %q state %v; want %v %q alive", m.ID, m.Addr, m.Meta.Hostname, m.State, want, m.ID)
		}
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("Members IDs = %v; want [a b c]", ids)
	}
	local := agents[0].LocalNode()
	if want, _ := c.net.Addr("b"); local.ID != "b" || local.Addr != want || local.State != StateAlive {
		t.Errorf("LocalNode = %+v; want b at %v alive", local, want)
	}
}

func TestPurgeForgetsRecordsOfLongGoneOwners(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a", func(cfg *Config) { cfg.DeadOwnerTTL = time.Minute })
	a.Publish(testRecord("n1", "mine", 1))
	orphan := Record{EndpointID: "orphan", Network: "n1", Node: "ghost", Version: 5}
	a.merge([]Record{orphan}, false)
	if _, ok := a.Record("orphan"); ok {
		t.Fatalf("push/pull stored a live record of an unknown owner; want it skipped")
	}
	a.merge([]Record{orphan}, true) // a broadcast is kept: its owner may be joining
	a.purge(time.Now().Add(30 * time.Second))
	if _, ok := a.Record("orphan"); !ok {
		t.Fatalf("orphan purged before DeadOwnerTTL")
	}
	a.purge(time.Now().Add(2 * time.Minute))
	if _, ok := a.Record("orphan"); ok {
		t.Errorf("orphan kept after DeadOwnerTTL; want purged")
	}
	if _, ok := a.Record("mine"); !ok {
		t.Errorf("own record purged; want kept")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no node ID", func(c *Config) { c.NodeID = "" }},
		{"short key", func(c *Config) { c.Keys = [][]byte{[]byte("short")} }},
		{"probe timeout above interval", func(c *Config) { c.ProbeTimeout = time.Second }},
		{"meta too large", func(c *Config) { c.Meta.Hostname = string(make([]byte, 600)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := (&gossiptest.Network{}).NewTransport("x")
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown()
			cfg := DefaultConfig()
			cfg.NodeID = "x"
			cfg.Transport = tr
			cfg.Logger = testLogger()
			tt.mod(&cfg)
			if a, err := New(cfg, nil); err == nil {
				a.Shutdown()
				t.Errorf("New: got nil error; want one")
			}
		})
	}
}

func TestPublishRejectsEmptyID(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a")
	if got := a.Publish(Record{Network: "n1"}); got.Version != 0 {
		t.Errorf("Publish(no ID) = %+v; want the zero Record", got)
	}
	if got := a.Records("n1"); len(got) != 0 {
		t.Errorf("Records = %+v; want none", got)
	}
}

func TestPublishCopiesAliases(t *testing.T) {
	a, _ := newTestCluster(t, nil).start("a")
	r := testRecord("n1", "e1", 1)
	out := a.Publish(r)
	r.Aliases[0], out.Aliases[0] = "changed", "changed"
	if got, _ := a.Record("e1"); got.Aliases[0] != "web" {
		t.Errorf("stored alias = %q; want web (caller's slices not shared)", got.Aliases[0])
	}
}

func TestMemberStateString(t *testing.T) {
	tests := []struct {
		s    MemberState
		want string
	}{{StateAlive, "alive"}, {StateSuspect, "suspect"}, {StateDead, "dead"}, {StateLeft, "left"}, {9, "MemberState(9)"}}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%d.String() = %q; want %q", int(tt.s), got, tt.want)
		}
	}
}

// TestMovedNodeReclaimsItsID: a node killed and started again at another
// address under the same ID is admitted once DeadNodeReclaimTime has passed
// since it was declared dead, and its records are visible again.
func TestMovedNodeReclaimsItsID(t *testing.T) {
	const reclaim = time.Second
	c := newTestCluster(t, func(cfg *Config) { cfg.DeadNodeReclaimTime = reclaim })
	agents, _ := c.startJoined("a", "b")
	agents[1].Shutdown()
	poll.Until(t, 5*time.Second, "b dead on a", func() bool { return countState(agents[0], StateDead) == 1 })
	tr, err := c.net.NewTransport("b-moved")
	if err != nil {
		t.Fatal(err)
	}
	moved, _ := c.start("b", func(cfg *Config) { cfg.Transport = tr })
	r := moved.Publish(testRecord("n1", "eb", 1))
	poll.Until(t, 5*time.Second, "b alive at its new address on a", func() bool {
		if _, err := moved.Join([]string{c.addr("a")}); err != nil {
			return false
		}
		for _, m := range agents[0].Members() {
			if m.ID == "b" && m.State == StateAlive && m.Addr == tr.Addr() {
				return true
			}
		}
		return false
	})
	poll.Until(t, 3*time.Second, "b's record on a", func() bool { return hasVisible(agents[0], "n1", "eb", r.Version) })
}
