package cluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/internal/poll"
)

func testNetwork(id, name, subnet string) *store.Network {
	return &store.Network{ID: id, Name: name, Subnet: netip.MustParsePrefix(subnet), Created: time.Unix(0, 0)}
}

// One manager made with Init, a worker and a second manager made with
// Join: commands and reads go through any of them, the worker is held to
// its role, tokens rotate, down nodes are removed, and nodes leave.
func TestNodeCluster(t *testing.T) {
	t.Parallel()
	var polls atomic.Int64
	mcfg := testConfig(t, "m1")
	mcfg.OnState = func(n *Node, st *store.State) {
		if _, ok := st.Nodes[n.ID()]; ok {
			polls.Add(1)
		}
	}
	m1, tokens := initNode(t, mcfg)
	w1 := joinNode(t, testConfig(t, "w1"), tokens.Worker, m1)
	m2 := joinNode(t, testConfig(t, "m2"), tokens.Manager, m1)
	ctx := testContext(t)

	t.Run("roles", func(t *testing.T) {
		for _, c := range []struct {
			n    *Node
			role pki.Role
		}{{m1, pki.RoleManager}, {w1, pki.RoleWorker}, {m2, pki.RoleManager}} {
			if c.n.Role() != c.role || c.n.IsManager() != (c.role == pki.RoleManager) {
				t.Errorf("%s: got role %s (manager %v); want %s", c.n.cfg.Hostname, c.n.Role(), c.n.IsManager(), c.role)
			}
			if got := state(t, m1).Nodes[c.n.ID()]; got == nil || got.Role != c.role || got.Hostname != c.n.cfg.Hostname {
				t.Errorf("%s: got record %+v; want role %s", c.n.cfg.Hostname, got, c.role)
			}
		}
	})
	t.Run("a second manager becomes a raft voter", func(t *testing.T) {
		if !isVoter(t, m1, m2.ID()) {
			t.Fatalf("m2 is not a voter in m1's raft configuration")
		}
		if _, ok := m2.RaftStats(); !ok {
			t.Fatal("m2 reports no raft stats")
		}
		for _, m := range []*Node{m1, m2} {
			// m2's replica may still be applying the log it was sent.
			poll.Until(t, 5*time.Second, m.cfg.Hostname+"'s replica to hold the gossip key", func() bool { return len(m.GossipKeyGenerations()) > 0 })
			keys := m.GossipKeyGenerations()
			if len(keys) != 1 || keys[0].Generation != 1 || keys[0].Created.IsZero() || keys[0].Key != nil {
				t.Errorf("%s's stored gossip keys: got %+v; want generation 1 with its creation time and no key", m.cfg.Hostname, keys)
			}
		}
	})
	t.Run("apply and state through a worker", func(t *testing.T) {
		web := testNetwork("n1", "web", "198.19.9.0/24")
		web.Attachable = true
		if err := w1.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: web}, nil); refusal(err) != http.StatusForbidden {
			t.Fatalf("network create from a worker: got %v; want 403", err)
		}
		var got store.Network
		if err := m1.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: web}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Name != "web" || got.VNI < store.MinAutoVNI {
			t.Fatalf("got %+v; want web with a VNI from %d", got, store.MinAutoVNI)
		}
		var a store.Allocation
		if err := w1.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "w1e", NetworkID: "n1", Node: w1.ID()}}, &a); err != nil || !a.IP.IsValid() {
			t.Fatalf("allocate through the worker: got %+v, %v; want an address", a, err)
		}
		if n := state(t, w1).NetworkByName("web"); n == nil || n.VNI != got.VNI {
			t.Fatalf("state through the worker: got %+v; want web with VNI %d", n, got.VNI)
		}
		if err := w1.Apply(ctx, store.Command{Op: store.OpRelease, EndpointID: "w1e"}, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("apply and state through a follower", func(t *testing.T) {
		if err := m2.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: testNetwork("n2", "db", "198.19.10.0/24")}, nil); err != nil {
			t.Fatal(err)
		}
		st := state(t, m2) // the leader's copy: the write just made is there
		if st.NetworkByName("db") == nil || st.NetworkByName("web") == nil {
			t.Fatalf("state through the follower lacks db or web: %v", st.Networks)
		}
	})
	t.Run("leader", func(t *testing.T) {
		for _, n := range []*Node{m1, w1, m2} {
			l, err := n.Leader(ctx)
			if err != nil || l.ID != m1.ID() || l.Addr != m1.advertise.String() {
				t.Errorf("leader through %s: got %+v, %v; want %s at %s", n.cfg.Hostname, l, err, m1.ID(), m1.advertise)
			}
		}
	})
	t.Run("a worker cannot do a manager's work", func(t *testing.T) {
		if _, err := w1.JoinToken(ctx, pki.RoleWorker, false); !errors.Is(err, ErrNotManager) {
			t.Errorf("join token on a worker: got %v; want ErrNotManager", err)
		}
		if err := w1.client.AddVoter(ctx, w1.ID(), w1.advertise.String()); refusal(err) != http.StatusForbidden {
			t.Errorf("voter from a worker: got %v; want 403", err)
		}
		if err := w1.client.RemoveVoter(ctx, m2.ID()); refusal(err) != http.StatusForbidden {
			t.Errorf("voter removal from a worker: got %v; want 403", err)
		}
		if err := w1.Apply(ctx, store.Command{Op: store.OpRotateSecret, Role: pki.RoleManager, Secret: pki.NewSecret()}, nil); refusal(err) != http.StatusForbidden {
			t.Errorf("secret rotation from a worker: got %v; want 403", err)
		}
		if err := m1.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "m1e", NetworkID: "n1", Node: m1.ID()}}, nil); err != nil {
			t.Fatal(err)
		}
		viaFollower := w1.client.At(m2.advertise.String())
		if err := viaFollower.Apply(ctx, store.Command{Op: store.OpRelease, EndpointID: "m1e"}, nil); refusal(err) != http.StatusForbidden {
			t.Errorf("a worker's release of a manager's address through a follower: got %v; want 403", err)
		}
		if _, ok := state(t, m1).Allocations["m1e"]; !ok {
			t.Error("a worker released a manager's address through a follower")
		}
		if err := m1.Apply(ctx, store.Command{Op: store.OpRelease, EndpointID: "m1e"}, nil); err != nil {
			t.Fatal(err)
		}
		if st := state(t, w1); st.WorkerSecret != "" || st.ManagerSecret != "" {
			t.Error("a worker read the join secrets")
		}
		if _, err := w1.RaftServers(); !errors.Is(err, ErrNotManager) {
			t.Errorf("raft servers on a worker: got %v; want ErrNotManager", err)
		}
		if _, ok := w1.RaftStats(); ok || w1.GossipKeyGenerations() != nil {
			t.Error("a worker reports raft stats or stored gossip keys")
		}
	})
	t.Run("gossip joins every node", func(t *testing.T) {
		poll.Until(t, 10*time.Second, "every node alive in every node's gossip", func() bool { return allAlive(m1, w1, m2) })
	})
	t.Run("the state reaches OnState", func(t *testing.T) {
		poll.Until(t, 5*time.Second, "OnState called with a state that lists m1", func() bool { return polls.Load() > 0 })
	})
	t.Run("join tokens rotate", func(t *testing.T) {
		for _, n := range []*Node{m1, m2} {
			got, err := n.JoinToken(ctx, pki.RoleWorker, false)
			if err != nil || got != tokens.Worker {
				t.Fatalf("worker token from %s: got %v, %v; want the one init gave", n.cfg.Hostname, got, err)
			}
		}
		if _, err := m1.JoinToken(ctx, "admin", false); err == nil {
			t.Error("a token for role admin: got none refused")
		}
		rotated, err := m2.JoinToken(ctx, pki.RoleWorker, true)
		if err != nil || rotated == tokens.Worker || rotated.Fingerprint != tokens.Worker.Fingerprint {
			t.Fatalf("rotated worker token: got %v, %v; want a new secret for the same CA", rotated, err)
		}
		cfg := testConfig(t, "late")
		_, err = tryJoin(t, cfg, tokens.Worker, m1.advertise.String())
		var refused *AdmitError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "rotated") {
			t.Fatalf("join with the old token: got %v; want it refused as rotated", err)
		}
		if hasFiles(cfg) {
			t.Error("a refused join left files")
		}
		joinNode(t, cfg, rotated, m1)
	})
	t.Run("remove a down worker", func(t *testing.T) {
		w2 := joinNode(t, testConfig(t, "w2"), token(t, m1, pki.RoleWorker), m1)
		_ = w2.Close()
		if err := m1.RemoveNode(ctx, w2.ID()); err != nil {
			t.Fatal(err)
		}
		if _, ok := state(t, m1).Nodes[w2.ID()]; ok {
			t.Fatal("the removed worker is still recorded")
		}
	})
	t.Run("remove a down manager", func(t *testing.T) {
		m3 := joinNode(t, testConfig(t, "m3"), tokens.Manager, m1)
		if !isVoter(t, m1, m3.ID()) {
			t.Fatal("m3 is not a voter")
		}
		_ = m3.Close()
		if err := m2.RemoveNode(ctx, m3.ID()); err != nil {
			t.Fatal(err)
		}
		if isVoter(t, m1, m3.ID()) {
			t.Error("the removed manager is still a raft voter")
		}
		if _, ok := state(t, m1).Nodes[m3.ID()]; ok {
			t.Error("the removed manager is still recorded")
		}
	})
	t.Run("leave", func(t *testing.T) {
		for _, n := range []*Node{w1, m2} {
			if err := n.Leave(ctx, false); err != nil {
				t.Fatalf("%s leaves: %v", n.cfg.Hostname, err)
			}
			if _, ok := state(t, m1).Nodes[n.ID()]; ok {
				t.Errorf("%s is still recorded after it left", n.cfg.Hostname)
			}
			for _, dir := range []string{"cluster", "raft"} {
				if _, err := os.Stat(filepath.Join(n.cfg.StateDir, dir)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s's %s directory after it left: %v; want it removed", n.cfg.Hostname, dir, err)
				}
			}
		}
		if isVoter(t, m1, m2.ID()) {
			t.Error("m2 is still a raft voter after it left")
		}
	})
}

// token returns the join token of role, from manager m.
func token(t *testing.T, m *Node, role pki.Role) pki.Token {
	t.Helper()
	got, err := m.JoinToken(testContext(t), role, false)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A node whose managers cannot be told keeps its membership when it
// leaves without force, and drops it with force.
func TestNodeLeaveWithoutManagers(t *testing.T) {
	t.Parallel()
	m, tokens := initNode(t, testConfig(t, "m1"))
	wcfg := testConfig(t, "w1")
	w := joinNode(t, wcfg, tokens.Worker, m)
	_ = m.Close()
	ctx := testContext(t)
	if err := w.Leave(ctx, false); err == nil {
		t.Fatal("leave with no manager reachable: got no error")
	}
	if !hasFiles(wcfg) {
		t.Fatal("a failed leave removed the node's files")
	}
	// A shut down agent could not even reach itself.
	if _, err := w.Agent().Join([]string{w.gossipAddr().String()}); err != nil {
		t.Fatalf("the node's gossip after a failed leave: %v; want it running", err)
	}
	if err := w.Leave(ctx, true); err != nil {
		t.Fatalf("leave --force: %v", err)
	}
	if hasFiles(wcfg) {
		t.Fatal("leave --force kept the node's files")
	}
}

// A node closed and resumed is the same node, in the same role, and back
// in its cluster.
func TestNodeResume(t *testing.T) {
	t.Parallel()
	mcfg, wcfg := testConfig(t, "m1"), testConfig(t, "w1")
	m, tokens := initNode(t, mcfg)
	w := joinNode(t, wcfg, tokens.Worker, m)
	if err := m.Apply(testContext(t), store.Command{Op: store.OpCreateNetwork, Network: testNetwork("n1", "web", "198.19.9.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	_ = m.Close()
	for _, c := range []struct {
		cfg  Config
		was  *Node
		role pki.Role
	}{{mcfg, m, pki.RoleManager}, {wcfg, w, pki.RoleWorker}} {
		n, err := Resume(c.cfg)
		if err != nil || n == nil {
			t.Fatalf("resume %s: got %v, %v; want the node", c.cfg.Hostname, n, err)
		}
		t.Cleanup(func() { _ = n.Close() })
		n.Start()
		if n.ID() != c.was.ID() || n.Role() != c.role || n.IsManager() != (c.role == pki.RoleManager) {
			t.Errorf("resumed %s: got %s, %s; want %s, %s", c.cfg.Hostname, n.ID(), n.Role(), c.was.ID(), c.role)
		}
		poll.Until(t, 10*time.Second, c.cfg.Hostname+" reads the cluster state after resuming", func() bool {
			st, err := n.State(testContext(t))
			return err == nil && st.NetworkByName("web") != nil
		})
	}
	if n, err := Resume(testConfig(t, "new")); n != nil || err != nil {
		t.Fatalf("resume in a state directory without a cluster: got %v, %v; want nil, nil", n, err)
	}
}

// An init that cannot finish leaves nothing behind.
func TestNodeInitFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "m1")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := netip.MustParseAddrPort(taken.Addr().String())
	if _, _, err := Init(testContext(t), cfg, InitRequest{Advertise: busy, Listen: busy.String()}); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("init on a 2377 port in use: got %v; want a listen error", err)
	}
	cfg.GossipPort = busy.Port() // fails after raft and the first entries
	adv, listen := addrs(t)
	if _, _, err := Init(testContext(t), cfg, InitRequest{Advertise: adv, Listen: listen}); err == nil || !strings.Contains(err.Error(), "start gossip") {
		t.Fatalf("init with the gossip port in use: got %v; want a gossip error", err)
	}
	if entries, _ := os.ReadDir(cfg.StateDir); len(entries) > 0 {
		t.Fatalf("a failed init left %d entries in the state directory; want none", len(entries))
	}
}

// The leader rotates the gossip key; every node installs the new key, and
// encrypts with it only once every live member holds it (orderKeys, the
// managers' primary), and gossip goes on through the rotation.
func TestGossipKeyRotation(t *testing.T) {
	t.Parallel()
	mcfg := testConfig(t, "m1")
	mcfg.GossipKeyRotation = 2 * time.Second
	m, tokens := initNode(t, mcfg)
	nodes := []*Node{m, joinNode(t, testConfig(t, "w1"), tokens.Worker, m), joinNode(t, testConfig(t, "m2"), tokens.Manager, m)}
	gens := map[string]uint64{} // key bytes → generation, from the store
	generations := func(keys [][]byte) []uint64 {
		st := state(t, m)
		for _, k := range st.GossipKeys {
			gens[string(k.Key)] = k.Generation
		}
		out := make([]uint64, len(keys))
		for i, k := range keys {
			out[i] = gens[string(k)]
		}
		return out
	}
	// Each node's keys, by generation, primary first, each time they change.
	seen := make([][][]uint64, len(nodes))
	poll.Until(t, 15*time.Second, "every node encrypting with the second key", func() bool {
		done := true
		for i, n := range nodes {
			g := generations(n.GossipKeys())
			if h := seen[i]; len(h) == 0 || !slices.Equal(h[len(h)-1], g) {
				seen[i] = append(h, g)
			}
			done = done && g[0] == 2
		}
		return done
	})
	want := [][]uint64{{1}, {1, 2}, {2, 1}} // orderKeys: installed first, primary once every member holds it
	for i, n := range nodes {
		if !slices.EqualFunc(seen[i], want, slices.Equal) {
			t.Errorf("%s's gossip keys by generation, as they changed: got %v; want %v", n.cfg.Hostname, seen[i], want)
		}
	}
	poll.Until(t, 10*time.Second, "every node alive in every node's gossip after the rotation", func() bool { return allAlive(nodes...) })
}

// TestGossipKeyNotUsedBeforeEveryMemberHoldsIt: a worker that misses its
// polls (here: it never polls until the test makes it) does not hold a new
// gossip key; no node may encrypt with that key until it does, whatever
// the clocks say, or the worker could decrypt nothing and would be
// declared dead. Once it polls, every node moves to the new key.
func TestGossipKeyNotUsedBeforeEveryMemberHoldsIt(t *testing.T) {
	t.Parallel()
	mcfg := testConfig(t, "m1")
	mcfg.GossipKeyRotation = time.Second
	m, tokens := initNode(t, mcfg)
	w := joinNode(t, testConfig(t, "w1"), tokens.Worker, m)
	lcfg := testConfig(t, "lag")
	lcfg.PollInterval = time.Hour // misses every poll but those the test makes
	lag := joinNode(t, lcfg, tokens.Worker, m)
	poll.Until(t, 10*time.Second, "every node alive in every node's gossip", func() bool { return allAlive(m, w, lag) })
	var second []byte
	poll.Until(t, 10*time.Second, "m1 and w1 to install a second gossip key", func() bool {
		st := state(t, m)
		if len(st.GossipKeys) < 2 {
			return false
		}
		second = st.GossipKeys[0].Key
		return holds(m, second) && holds(w, second)
	})
	if holds(lag, second) {
		t.Fatal("the worker that never polled holds the new key")
	}
	// Twenty of the leader's polls, each a chance to promote the key.
	for range 20 {
		for _, n := range []*Node{m, w} {
			if bytes.Equal(n.GossipKeys()[0], second) {
				t.Fatalf("%s encrypts with a gossip key that %s does not hold", n.cfg.Hostname, lag.cfg.Hostname)
			}
		}
		time.Sleep(mcfg.PollInterval)
	}
	lag.poll()
	poll.Until(t, 10*time.Second, "every node to encrypt with the new key", func() bool {
		lag.poll()
		for _, n := range []*Node{m, w, lag} {
			if !bytes.Equal(n.GossipKeys()[0], second) {
				return false
			}
		}
		return true
	})
	poll.Until(t, 10*time.Second, "every node alive in every node's gossip after the rotation", func() bool { return allAlive(m, w, lag) })
}

// TestCertRenewal: a worker and a manager renew their certificates (here
// as soon as they start: renewOnce) with the cluster's certificate expiry,
// save them, and go on talking to each other with the new ones; a node
// that joins afterwards trusts the manager's renewed certificate.
func TestCertRenewal(t *testing.T) {
	t.Parallel()
	mcfg := testConfig(t, "m1")
	mcfg.renewDue = renewOnce()
	adv, listen := addrs(t)
	m, tokens, err := Init(testContext(t), mcfg, InitRequest{Advertise: adv, Listen: listen, CertExpiry: 2 * time.Hour})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	_, mfirst := m.id.Current()
	m.Start()
	wcfg := testConfig(t, "w1")
	wcfg.renewDue = renewOnce()
	w := joinNode(t, wcfg, tokens.Worker, m)
	_, wfirst := w.id.Current()
	if got := time.Until(wfirst.NotAfter); got > 2*time.Hour || got < 2*time.Hour-time.Minute {
		t.Errorf("the worker's first certificate expires in %v; want the cluster's 2h", got)
	}
	for _, n := range []*Node{m, w} {
		first := mfirst
		if n == w {
			first = wfirst
		}
		poll.Until(t, 10*time.Second, n.cfg.Hostname+" to renew its certificate", func() bool {
			_, now := n.id.Current()
			return now.SerialNumber.Cmp(first.SerialNumber) != 0
		})
		_, now := n.id.Current()
		saved, err := os.ReadFile(filepath.Join(clusterDir(n.cfg.StateDir), "node.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if leaf, err := pki.ParseCertPEM(saved); err != nil || leaf.SerialNumber.Cmp(now.SerialNumber) != 0 {
			t.Errorf("%s saved certificate %v (%v); want the renewed one", n.cfg.Hostname, leaf, err)
		}
		if got := time.Until(now.NotAfter); got > 2*time.Hour || got < 2*time.Hour-time.Minute {
			t.Errorf("%s's renewed certificate expires in %v; want the cluster's 2h", n.cfg.Hostname, got)
		}
	}
	if err := m.SetCertExpiry(testContext(t), 30*time.Second); err == nil {
		t.Error("a 30 s certificate expiry: got no error; want the 1-minute minimum")
	}
	if err := w.SetCertExpiry(testContext(t), time.Hour); err == nil {
		t.Error("a worker set the certificate expiry")
	}
	w.client.http.CloseIdleConnections() // the next call makes a new handshake
	if st := state(t, w); st.CertExpiry != 2*time.Hour {
		t.Errorf("the worker reads a certificate expiry of %v; want 2h", st.CertExpiry)
	}
	joinNode(t, testConfig(t, "w2"), tokens.Worker, m)
}

// renewOnce is a renewDue that is due for the first certificate it is
// asked about, and never again.
func renewOnce() func(*x509.Certificate, time.Time) bool {
	var first *x509.Certificate
	var mu sync.Mutex
	return func(c *x509.Certificate, _ time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = c
		}
		return c == first
	}
}

// TestRemovedManagerIsRefused: a manager removed from the cluster while
// its weftd runs keeps its certificate, but the other managers take no
// raft from it (here an AppendEntries of term 1000, which would depose the
// leader) and answer none of its calls.
func TestRemovedManagerIsRefused(t *testing.T) {
	t.Parallel()
	m1, tokens := initNode(t, testConfig(t, "m1"))
	m2 := joinNode(t, testConfig(t, "m2"), tokens.Manager, m1)
	ctx := testContext(t)
	if err := m1.RemoveNode(ctx, m2.ID()); err != nil {
		t.Fatal(err)
	}
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(m2.ID()), Addr: []byte(m2.advertise.String())},
		Term:      1000,
	}
	var resp raft.AppendEntriesResponse
	err := m2.raftTr.AppendEntries(raft.ServerID(m1.ID()), raft.ServerAddress(m1.advertise.String()), req, &resp)
	if err == nil {
		t.Errorf("a removed manager's AppendEntries of term 1000 was answered: %+v", resp)
	}
	if !m1.leads() {
		t.Error("the removed manager deposed the leader")
	}
	if _, err := m2.client.State(ctx); err == nil {
		t.Error("the managers answered a removed manager's state request")
	}
	if _, err := m2.client.Renew(ctx); err == nil {
		t.Error("the managers renewed a removed manager's certificate")
	}
	// Its own manager API, whose replica may never see the removal, must
	// not renew it either.
	if _, err := m2.client.At(m2.advertise.String()).Renew(ctx); err == nil {
		t.Error("a removed manager renewed its own certificate")
	}
}

// TestRemovedNodeLosesTheGossipKeys: a worker removed while its weftd
// runs holds the gossip keys; the leader issues a new one at once (the
// rotation period is 12 h here), and once the others encrypt with it the
// keys the removed node holds are retired everywhere, so that its gossip
// is no longer read and it is declared dead.
func TestRemovedNodeLosesTheGossipKeys(t *testing.T) {
	t.Parallel()
	m, tokens := initNode(t, testConfig(t, "m1"))
	w := joinNode(t, testConfig(t, "w1"), tokens.Worker, m)
	x := joinNode(t, testConfig(t, "x"), tokens.Worker, m)
	poll.Until(t, 10*time.Second, "every node alive in every node's gossip", func() bool { return allAlive(m, w, x) })
	if err := m.RemoveNode(testContext(t), x.ID()); err != nil {
		t.Fatal(err)
	}
	known := x.GossipKeys()
	poll.Until(t, 15*time.Second, "m1 and w1 to hold no gossip key the removed node holds", func() bool {
		for _, n := range []*Node{m, w} {
			for _, k := range known {
				if holds(n, k) {
					return false
				}
			}
		}
		return true
	})
	for _, k := range state(t, m).GossipKeys {
		if slices.ContainsFunc(known, func(o []byte) bool { return bytes.Equal(o, k.Key) }) {
			t.Errorf("the managers keep generation %d, which the removed node holds", k.Generation)
		}
	}
	poll.Until(t, 15*time.Second, "m1 and w1 to see the removed node dead", func() bool {
		for _, n := range []*Node{m, w} {
			for _, mb := range n.Agent().Members() {
				if mb.ID == x.ID() && (mb.State == gossip.StateAlive || mb.State == gossip.StateSuspect) {
					return false
				}
			}
		}
		return true
	})
	poll.Until(t, 10*time.Second, "m1 and w1 alive in each other's gossip", func() bool { return allAlive(m, w) })
}

// holds reports whether n has key installed.
func holds(n *Node, key []byte) bool {
	return slices.ContainsFunc(n.GossipKeys(), func(k []byte) bool { return bytes.Equal(k, key) })
}

// The leader adds a data key to every encrypted network each
// DataKeyRotation, and the store keeps the newest three.
func TestDataKeyRotation(t *testing.T) {
	t.Parallel()
	mcfg := testConfig(t, "m1")
	mcfg.DataKeyRotation = 200 * time.Millisecond
	m, tokens := initNode(t, mcfg)
	w := joinNode(t, testConfig(t, "w1"), tokens.Worker, m)
	n := testNetwork("n1", "secret", "198.19.9.0/24")
	n.Encrypted = true
	if err := w.Apply(testContext(t), store.Command{Op: store.OpCreateNetwork, Network: n}, nil); refusal(err) != http.StatusForbidden {
		t.Fatalf("network create from a worker: got %v; want 403", err)
	}
	if err := m.Apply(testContext(t), store.Command{Op: store.OpCreateNetwork, Network: n}, nil); err != nil {
		t.Fatal(err)
	}
	var keys []store.Key
	poll.Until(t, 10*time.Second, "three rotations of the data key", func() bool {
		keys = state(t, m).Networks["n1"].Keys
		return len(keys) > 0 && keys[0].Generation >= 4
	})
	if len(keys) != store.MaxNetworkKeys {
		t.Fatalf("got %d generations; want %d", len(keys), store.MaxNetworkKeys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i].Generation != keys[i-1].Generation-1 || keys[i].Created.After(keys[i-1].Created) {
			t.Fatalf("keys not newest first, one generation apart: %v", keys)
		}
	}
}

// A join whose token names another CA fails in the TLS handshake: the
// secret, valid on that manager, never reaches it.
func TestJoinRefusesAnotherCA(t *testing.T) {
	t.Parallel()
	m := startManager(t)
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "intruder")
	tok := pki.Token{Fingerprint: other.Fingerprint(), Secret: m.tokens[pki.RoleWorker].Secret}
	_, err = tryJoin(t, cfg, tok, m.addr)
	var refused *AdmitError
	if !errors.As(err, &refused) || !errors.Is(err, pki.ErrFingerprintMismatch) {
		t.Fatalf("join with another cluster's CA: got %v; want a fingerprint mismatch", err)
	}
	m.store.Read(func(s *store.State) {
		if len(s.Nodes) != 1 {
			t.Errorf("the manager recorded %d nodes; want only itself", len(s.Nodes))
		}
	})
	if hasFiles(cfg) {
		t.Error("a refused join left files")
	}
}

// A join through an address that accepts TCP and never answers gives up
// when its context ends.
func TestJoinGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	}()
	cfg := testConfig(t, "w1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	adv, listen := addrs(t)
	_, err = Join(ctx, cfg, JoinRequest{Token: pki.Token{Fingerprint: strings.Repeat("a", 64), Secret: pki.NewSecret()}, Via: ln.Addr().String(), Advertise: adv, Listen: listen})
	took := time.Since(start)
	var refused *AdmitError
	if !errors.As(err, &refused) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join through a silent manager: got %v; want the context's deadline", err)
	}
	if took >= handshakeTimeout {
		t.Fatalf("join through a silent manager took %v; want it to end with its context (300ms), not after %v", took, handshakeTimeout)
	}
	if hasFiles(cfg) {
		t.Error("a failed join left files")
	}
}
