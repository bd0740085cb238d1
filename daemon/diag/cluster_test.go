package diag

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/freeport"
	"github.com/weftnet/weft/internal/poll"
)

// The cluster tests run a manager and a worker on loopback, with raft and
// gossip over real sockets, as weftd runs them, without root; the Reporter
// is the manager's.

var loopback = netip.MustParseAddr("127.0.0.1")

// nodeConfig returns the configuration of a node called name whose VTEP
// is data (recorded and gossiped, never bound).
func nodeConfig(t *testing.T, name string, data netip.AddrPort) cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.StateDir, cfg.DataAddr, cfg.Hostname, cfg.GossipPort = t.TempDir(), data, name, freeport.Loopback(t)
	cfg.PollInterval = 100 * time.Millisecond
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// twoNodes starts a manager m1 (VTEP 127.0.0.1:14789) and a worker w1
// (VTEP 127.0.0.1:24789) joined to it.
func twoNodes(t *testing.T, ctx context.Context) (m1, w1 *cluster.Node) {
	adv := netip.AddrPortFrom(loopback, freeport.Loopback(t))
	m1, tokens, err := cluster.Init(ctx, nodeConfig(t, "m1", netip.AddrPortFrom(loopback, 14789)),
		cluster.InitRequest{Advertise: adv, Listen: adv.String(), Pool: netip.MustParsePrefix("198.19.0.0/16")})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() { _ = m1.Close() })
	m1.Start()
	wadv := netip.AddrPortFrom(loopback, freeport.Loopback(t))
	w1, err = cluster.Join(ctx, nodeConfig(t, "w1", netip.AddrPortFrom(loopback, 24789)),
		cluster.JoinRequest{Token: tokens.Worker, Via: adv.String(), Advertise: wadv, Listen: wadv.String()})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	t.Cleanup(func() { _ = w1.Close() })
	w1.Start()
	return m1, w1
}

// createNetwork makes a cluster network through n.
func createNetwork(t *testing.T, ctx context.Context, n *cluster.Node, id, name, subnet string) store.Network {
	t.Helper()
	var got store.Network
	req := &store.Network{ID: id, Name: name, Subnet: netip.MustParsePrefix(subnet), Attachable: true, Created: time.Unix(0, 0)}
	if err := n.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: req}, &got); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return got
}

// TestCluster: m1 has the cluster network web, where w1 has two endpoints
// behind its VTEP, and m1's FDB has learnt a third MAC behind another; the
// cluster also has the network far, which m1 does not have.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m1, w1 := twoNodes(t, ctx)
	web := createNetwork(t, ctx, m1, "n-web", "web", "198.19.9.0/24")
	far := createNetwork(t, ctx, m1, "n-far", "far", "198.19.10.0/24")
	w1VTEP, other := netip.AddrPortFrom(loopback, 24789), netip.MustParseAddrPort("198.18.0.77:4789")
	m1.Agent().SetInterest([]string{web.ID})
	w1.Agent().SetInterest([]string{web.ID})
	for _, ep := range []struct {
		id, ip string
		mac    fdb.MAC
	}{{"ep1", "198.19.9.2", macA}, {"ep2", "198.19.9.3", macC}} {
		// Gossip takes only records of endpoints the managers allocated.
		alloc := &store.Allocation{EndpointID: ep.id, NetworkID: web.ID, Node: w1.ID(), IP: netip.MustParseAddr(ep.ip), MAC: ep.mac.String()}
		if err := w1.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: alloc}, nil); err != nil {
			t.Fatal(err)
		}
		w1.Agent().Publish(gossip.Record{EndpointID: ep.id, Network: web.ID, VNI: web.VNI, IP: alloc.IP, MAC: ep.mac, VTEP: w1VTEP})
	}
	poll.Until(t, 20*time.Second, "m1 to see w1 alive with both endpoints on web", func() bool {
		return len(m1.Agent().Records(web.ID)) == 2 && slices.Contains(m1.Agent().Interested(web.ID), w1.ID()) &&
			slices.ContainsFunc(m1.Agent().Members(), func(m gossip.Member) bool { return m.ID == w1.ID() && m.State == gossip.StateAlive })
	})
	r := &Reporter{
		Source: &fakeSource{c: m1, nets: []Network{{Name: "web", ID: web.ID, VNI: web.VNI, Cluster: true}}},
		Table:  fdb.New(), DataAddr: netip.AddrPortFrom(loopback, 14789), Log: slog.New(slog.DiscardHandler),
	}
	r.Table.AddStatic(web.VNI, macA, w1VTEP)
	r.Table.Learn(web.VNI, macB, other, time.Now())

	t.Run("nodes", func(t *testing.T) { testNodes(t, r, m1, w1) })
	t.Run("peers", func(t *testing.T) {
		peers := r.Peers()
		want := []api.Peer{
			{VTEP: w1VTEP.String(), NodeID: w1.ID(), Hostname: "w1", Role: string(pki.RoleWorker), State: "alive", Networks: []string{"web"}},
		}
		if len(peers) != len(want) {
			t.Fatalf("peers: got %+v; want %+v", peers, want)
		}
		for i := range want {
			if p := peers[i]; p.VTEP != want[i].VTEP || p.NodeID != want[i].NodeID || p.Hostname != want[i].Hostname ||
				p.Role != want[i].Role || p.State != want[i].State || !slices.Equal(p.Networks, want[i].Networks) {
				t.Errorf("peer %d: got %+v; want %+v", i, p, want[i])
			}
		}
	})
	t.Run("fdb", func(t *testing.T) { testClusterFDB(t, r, web, far) })
	t.Run("node info", func(t *testing.T) { testNodeInfo(t, r, m1, w1) })
}

func testNodes(t *testing.T, r *Reporter, m1, w1 *cluster.Node) {
	nodes, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []api.Node{
		{ID: m1.ID(), Hostname: "m1", Role: string(pki.RoleManager), DataAddr: "127.0.0.1:14789", Self: true, Status: "Ready", ManagerStatus: "Leader"},
		{ID: w1.ID(), Hostname: "w1", Role: string(pki.RoleWorker), DataAddr: "127.0.0.1:24789", Status: "Ready"},
	}
	slices.SortFunc(want, func(a, b api.Node) int { return cmp.Compare(a.ID, b.ID) })
	if len(nodes) != len(want) {
		t.Fatalf("nodes: got %+v; want %+v", nodes, want)
	}
	for i, n := range nodes {
		n.Addr = "" // where a node's 2377 is: a free port, chosen by the test
		if n != want[i] {
			t.Errorf("node %d: got %+v; want %+v", i, n, want[i])
		}
	}
}

func testClusterFDB(t *testing.T, r *Reporter, web, far store.Network) {
	ctx := context.Background()
	got, err := r.FDB(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].VNI != web.VNI || len(got[0].MACs) != 2 {
		t.Fatalf("web: got %+v; want its two rows", got)
	}
	for _, row := range got[0].MACs {
		want := map[string]string{macA.String(): api.FDBGossip, macB.String(): api.FDBLearned}[row.MAC]
		if row.Type != want {
			t.Errorf("web's row of %s: got type %q; want %q", row.MAC, row.Type, want)
		}
	}
	got, err = r.FDB(ctx, "far")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Network != "far" || got[0].VNI != far.VNI || got[0].MACs == nil || len(got[0].MACs) != 0 || got[0].IPs == nil || len(got[0].IPs) != 0 {
		t.Errorf("far, not on this node: got %+v; want its VNI %d and no rows", got, far.VNI)
	}
	_, err = r.FDB(ctx, "nosuch")
	wantStatus(t, "a network the cluster does not have", err, http.StatusNotFound, "network nosuch not found")
}

func testNodeInfo(t *testing.T, r *Reporter, m1, w1 *cluster.Node) {
	ctx := context.Background()
	self, err := r.NodeInfo(ctx, "self")
	if err != nil {
		t.Fatal(err)
	}
	if self.ID != m1.ID() || self.Hostname != "m1" || !self.Self || self.Role != string(pki.RoleManager) ||
		self.Status != "Ready" || self.Gossip != "alive" || self.Version == "" || !slices.Equal(self.Networks, []string{"web"}) ||
		self.Addresses.DataPath != "127.0.0.1:14789" || self.Addresses.Gossip == "" || self.Addresses.Manager == "" {
		t.Errorf("self: got %+v", self)
	}
	if ms := self.ManagerStatus; ms == nil || *ms != (api.ManagerStatus{Leader: true, Reachability: "reachable", Raft: "voter"}) {
		t.Errorf("self's manager status: got %+v; want the reachable leader, a voter", ms)
	}
	for _, ref := range []string{"w1", w1.ID(), w1.ID()[:len(w1.ID())-1]} {
		w, err := r.NodeInfo(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if w.ID != w1.ID() || w.Self || w.Role != string(pki.RoleWorker) || w.Status != "Ready" || w.Gossip != "alive" ||
			w.ManagerStatus != nil || w.Addresses.Manager != "" || w.Version != "" || !slices.Equal(w.Networks, []string{"web"}) {
			t.Errorf("%s: got %+v; want w1, a Ready worker on web", ref, w)
		}
	}
	_, err = r.NodeInfo(ctx, "nope")
	wantStatus(t, "a node the cluster does not have", err, http.StatusNotFound, "node nope not found")
}
