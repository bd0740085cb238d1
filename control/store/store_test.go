package store

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/internal/poll"
)

const (
	applyTimeout = 5 * time.Second
	waitTimeout  = 10 * time.Second
)

// member is one manager in a test cluster.
type member struct {
	id    string
	dir   string
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	store *Store
	// log receives raft's logs; nil discards them.
	log *slog.Logger
}

func newMember(t *testing.T, id string) *member {
	m := &member{id: id, dir: t.TempDir()}
	m.addr, m.trans = raft.NewInmemTransport(raft.ServerAddress(id + ":2377"))
	return m
}

// open starts (or restarts) m's store over a fresh transport at its address.
func (m *member) open(t *testing.T, bootstrap bool) {
	t.Helper()
	_, m.trans = raft.NewInmemTransport(m.addr)
	cfg := DefaultConfig()
	cfg.NodeID, cfg.Dir, cfg.Transport, cfg.Bootstrap = m.id, m.dir, m.trans, bootstrap
	cfg.Logger = m.log
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", m.id, err)
	}
	m.store = s
	t.Cleanup(func() { s.Close() })
}

// connect wires the transports of every running member to each other.
func connect(ms ...*member) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
}

// crash closes m and cuts it off from the others.
func crash(m *member, others ...*member) {
	m.store.Close()
	for _, o := range others {
		o.trans.Disconnect(m.addr)
	}
}

func mustStoreApply(t *testing.T, s *Store, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if _, err := s.Apply(c, applyTimeout); err != nil {
			t.Fatalf("apply %s: %v", c.Op, err)
		}
	}
}

func snapshotOf(s *Store) *State {
	var c *State
	s.Read(func(st *State) { c = st.Clone() })
	return c
}

// converged waits until every member's state equals the leader's.
func converged(t *testing.T, leader *member, ms ...*member) {
	t.Helper()
	poll.Until(t, waitTimeout, "replicas converge", func() bool {
		want := snapshotOf(leader.store)
		for _, m := range ms {
			if !reflect.DeepEqual(snapshotOf(m.store), want) {
				return false
			}
		}
		return true
	})
}

func leaderOf(ms ...*member) *member {
	for _, m := range ms {
		if m.store.IsLeader() {
			return m
		}
	}
	return nil
}

// startCluster bootstraps ms[0] and adds the others as voters.
func startCluster(t *testing.T, ms ...*member) {
	t.Helper()
	for i, m := range ms {
		m.open(t, i == 0)
	}
	connect(ms...)
	if err := ms[0].store.WaitLeader(waitTimeout); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitTimeout, "bootstrap node leads", ms[0].store.IsLeader)
	for _, m := range ms[1:] {
		if err := ms[0].store.AddVoter(m.id, string(m.addr)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClusterReplicatesAndFailsOver runs three managers: commands applied on
// the leader reach every replica; when the leader dies the others elect a
// new one within seconds and it takes commands; the dead node, reopened from
// its directory, catches up; RemoveServer shrinks the configuration.
func TestClusterReplicatesAndFailsOver(t *testing.T) {
	ms := []*member{newMember(t, "m1"), newMember(t, "m2"), newMember(t, "m3")}
	startCluster(t, ms...)
	m1 := ms[0]

	servers, err := m1.store.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("servers: got %v, %v; want 3 voters", servers, err)
	}
	for _, sv := range servers {
		wantEqual(t, "suffrage of "+string(sv.ID), sv.Suffrage, raft.Voter)
	}
	mustStoreApply(t, m1.store, populated()...)
	converged(t, m1, ms...)
	poll.Until(t, waitTimeout, "followers know the leader", func() bool {
		id2, _ := ms[1].store.Leader()
		id3, addr3 := ms[2].store.Leader()
		return id2 == "m1" && id3 == "m1" && addr3 == m1.addr
	})
	if _, err := ms[1].store.Apply(mkNet("x", "x", ""), applyTimeout); !errors.Is(err, raft.ErrNotLeader) {
		t.Errorf("apply on follower: got %v; want raft.ErrNotLeader", err)
	}

	start := time.Now()
	crash(m1, ms[1:]...)
	var next *member
	poll.Until(t, waitTimeout, "new leader elected", func() bool { next = leaderOf(ms[1:]...); return next != nil })
	failover := time.Since(start)
	t.Logf("leader failover took %v", failover)
	if failover > 5*time.Second {
		t.Errorf("failover: got %v; want under 5s", failover)
	}
	got, err := next.store.Apply(mkNet("net4", "after-failover", ""), applyTimeout)
	if err != nil {
		t.Fatalf("apply on new leader %s: %v", next.id, err)
	}
	wantEqual(t, "VNI on new leader", got.(Network).VNI, 4099)
	converged(t, next, ms[1:]...)

	m1.open(t, true) // Bootstrap is ignored: the directory has state
	connect(ms...)
	converged(t, next, ms...)
	if n := snapshotOf(m1.store).NetworkByName("after-failover"); n == nil {
		t.Errorf("reopened m1 lacks the network created while it was down")
	}

	if err := next.store.RemoveServer("m1"); err != nil {
		t.Fatal(err)
	}
	servers, err = next.store.Servers()
	if err != nil || len(servers) != 2 {
		t.Fatalf("servers after remove: got %v, %v; want 2", servers, err)
	}
}

// TestStoreDurable closes a single-manager cluster and reopens it from its
// directory, once with only the log and once with a snapshot plus the log
// after it: the state comes back either way.
func TestStoreDurable(t *testing.T) {
	for _, snap := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snap), func(t *testing.T) {
			m := newMember(t, "m1")
			m.open(t, true)
			if err := m.store.WaitLeader(waitTimeout); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, waitTimeout, "sole node leads", m.store.IsLeader)
			cmds := populated()
			mustStoreApply(t, m.store, cmds[:6]...)
			if snap {
				if err := m.store.raft.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			}
			mustStoreApply(t, m.store, cmds[6:]...)
			want := snapshotOf(m.store)
			if err := m.store.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.store.Close(); err != nil {
				t.Errorf("second Close: got %v; want nil", err)
			}

			m.open(t, true)
			poll.Until(t, waitTimeout, "state restored", func() bool { return reflect.DeepEqual(snapshotOf(m.store), want) })
			poll.Until(t, waitTimeout, "reopened node leads", m.store.IsLeader)
			mustStoreApply(t, m.store, mkNet("net9", "later", ""))
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, trans := raft.NewInmemTransport("")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no node ID", func(c *Config) { c.NodeID = "" }, "NodeID"},
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir"},
		{"no transport", func(c *Config) { c.Transport = nil }, "Transport"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = time.Second }, "LeaderLeaseTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NodeID, cfg.Dir, cfg.Transport = "m1", t.TempDir(), trans
			cfg.Logger = slog.New(slog.DiscardHandler)
			tc.mod(&cfg)
			s, err := Open(cfg)
			if err == nil {
				s.Close()
			}
			checkErr(t, err, tc.want, nil)
		})
	}
}

// TestWaitLeaderTimesOut checks that a node that was never bootstrapped nor
// added finds no leader, and says so within the timeout.
func TestWaitLeaderTimesOut(t *testing.T) {
	m := newMember(t, "m1")
	m.open(t, false)
	start := time.Now()
	err := m.store.WaitLeader(200 * time.Millisecond)
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("WaitLeader: got %v; want ErrNoLeader", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("WaitLeader took %v; want about 200ms", d)
	}
	if _, err := m.store.Apply(mkNet("x", "x", ""), time.Second); !errors.Is(err, raft.ErrNotLeader) {
		t.Errorf("Apply without leader: got %v; want raft.ErrNotLeader", err)
	}
	m.store.Close()
	if err := m.store.WaitLeader(time.Second); !errors.Is(err, raft.ErrRaftShutdown) {
		t.Errorf("WaitLeader after Close: got %v; want raft.ErrRaftShutdown", err)
	}
}
