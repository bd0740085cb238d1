package store

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/weftnet/weft/internal/poll"
)

func TestRaftStats(t *testing.T) {
	m1, m2 := newMember(t, "m1"), newMember(t, "m2")
	startCluster(t, m1, m2)
	before := m1.store.RaftStats()
	if !before.Leader || before.State != "leader" || before.Term == 0 {
		t.Fatalf("bootstrap node: got %+v; want the leader, in a term", before)
	}
	mustStoreApply(t, m1.store, Command{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.0/16"), PoolSize: 24})
	after := m1.store.RaftStats()
	if after.AppliedIndex <= before.AppliedIndex || after.CommitIndex < after.AppliedIndex || after.LastIndex < after.CommitIndex {
		t.Fatalf("after an apply: got %+v (before %+v); want applied index up, applied <= commit <= last", after, before)
	}
	poll.Until(t, waitTimeout, "leader applies its whole log", func() bool {
		s := m1.store.RaftStats()
		return s.AppliedIndex == s.LastIndex
	})
	poll.Until(t, waitTimeout, "follower applies the entry", func() bool {
		return m2.store.RaftStats().AppliedIndex >= after.AppliedIndex
	})
	if f := m2.store.RaftStats(); f.Leader || f.State != "follower" {
		t.Fatalf("second manager: got %+v; want a follower", f)
	}
	for _, s := range []RaftStats{before, m2.store.RaftStats()} {
		if !slices.Contains(RaftStates(), s.State) {
			t.Errorf("state %q not in RaftStates %v", s.State, RaftStates())
		}
	}
	m2.store.Close()
	if got := m2.store.RaftStats().State; got != "shutdown" {
		t.Errorf("closed store: got state %q; want shutdown", got)
	}
}
