package diag

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
)

func TestPeersStatic(t *testing.T) {
	r := staticReporter()
	r.Metrics.Peers.Set([]netip.AddrPort{peer2, peer3})
	r.Metrics.Peers.Destination(peer3).AddTx(3, 300)
	counted := time.Now().Add(-time.Second)
	r.Metrics.Peers.Sender(peer3).AddRx(2, 200, counted.UnixNano())
	peers := r.Peers()
	got := map[string]api.Peer{}
	var order []string
	for _, p := range peers {
		got[p.VTEP] = p
		order = append(order, p.VTEP)
	}
	if want := []string{"198.18.0.2:4789", "198.18.0.3:4789", "198.18.0.9:4789"}; !slices.Equal(order, want) {
		t.Fatalf("peers: got %v; want %v", order, want)
	}
	cases := []struct {
		vtep, state string
		networks    []string
		seenAgo     time.Duration // -1: never seen
	}{
		{"198.18.0.2:4789", api.PeerStatic, []string{"net1", "net2"}, 2 * time.Second}, // from the learned row
		{"198.18.0.3:4789", api.PeerStatic, []string{"net1"}, time.Second},             // from the counters
		{"198.18.0.9:4789", api.PeerLearned, []string{"net1"}, 0},
	}
	for _, c := range cases {
		p := got[c.vtep]
		if p.State != c.state || !slices.Equal(p.Networks, c.networks) {
			t.Errorf("%s: got state %q networks %v; want %q %v", c.vtep, p.State, p.Networks, c.state, c.networks)
		}
		if ago := time.Since(p.LastSeen); ago < c.seenAgo || ago > c.seenAgo+5*time.Second {
			t.Errorf("%s: last seen %v ago; want about %v", c.vtep, ago, c.seenAgo)
		}
	}
	if p := got["198.18.0.3:4789"]; p.TxPackets != 3 || p.TxBytes != 300 || p.RxPackets != 2 || p.RxBytes != 200 {
		t.Errorf("counters of .3: got rx %d/%d tx %d/%d; want rx 2/200 tx 3/300", p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes)
	}
}

func TestPeersWithoutCounters(t *testing.T) {
	r := staticReporter()
	r.Metrics = nil
	peers := r.Peers()
	if len(peers) != 3 {
		t.Fatalf("peers: got %+v; want .2, .3 and .9", peers)
	}
	if p := peers[1]; p.VTEP != peer3.String() || !p.LastSeen.IsZero() || p.RxPackets != 0 || p.TxPackets != 0 {
		t.Errorf(".3 with no counters: got %+v; want never seen, nothing counted", p)
	}
}

func TestFDBStatic(t *testing.T) {
	r := staticReporter()
	ctx := context.Background()
	all, err := r.FDB(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range all {
		names = append(names, fmt.Sprintf("%s/%d", tb.Network, len(tb.MACs)))
	}
	if want := []string{"net1/2", "net2/0", "/1"}; !slices.Equal(names, want) {
		t.Fatalf("tables (network/rows): got %v; want %v", names, want)
	}
	if orphan := all[2]; orphan.VNI != 999 || orphan.MACs[0].Type != api.FDBStatic || orphan.MACs[0].VTEP != peer3.String() {
		t.Errorf("rows of VNI 999: got %+v; want one static row to %s", orphan, peer3)
	}
	one, err := r.FDB(ctx, "net1")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Network != "net1" || one[0].VNI != 171 {
		t.Fatalf("--network net1: got %+v", one)
	}
	macs, ips := one[0].MACs, one[0].IPs
	if len(macs) != 2 || macs[0].MAC != macA.String() || macs[0].VTEP != peer2.String() || macs[0].Type != api.FDBLearned ||
		macs[1].MAC != macB.String() || macs[1].VTEP != learned.String() {
		t.Errorf("MAC rows: got %+v; want %s at %s, %s at %s, learned", macs, macA, peer2, macB, learned)
	}
	if a := macs[0].AgeSeconds; a < 2 || a > 7 {
		t.Errorf("age of %s: got %.1f s; want about 2", macA, a)
	}
	if len(ips) != 1 || ips[0].IP != "198.19.71.3" || ips[0].MAC != macA.String() || ips[0].Type != api.FDBLearned {
		t.Errorf("IP rows: got %+v; want 198.19.71.3 → %s, learned", ips, macA)
	}
	_, err = r.FDB(ctx, "nosuch")
	wantStatus(t, "unknown network", err, http.StatusNotFound, "network nosuch not found")
}

func TestNodeInfoStandalone(t *testing.T) {
	r := staticReporter()
	info, err := r.NodeInfo(context.Background(), "self")
	if err != nil {
		t.Fatal(err)
	}
	if info.Role != api.RoleStandalone || !info.Self || info.Status != "Ready" || info.ID != "" ||
		info.Addresses.DataPath != "198.18.0.1:4789" || info.Addresses.Gossip != "" || info.ManagerStatus != nil ||
		!slices.Equal(info.Networks, []string{"net1", "net2"}) || info.Version == "" {
		t.Errorf("self outside a cluster: got %+v", info)
	}
	_, err = r.NodeInfo(context.Background(), "abc")
	wantStatus(t, "another node outside a cluster", err, http.StatusNotFound, "node abc not found")
}

func TestNodesStandalone(t *testing.T) {
	nodes, err := staticReporter().Nodes(context.Background())
	if nodes != nil {
		t.Errorf("nodes outside a cluster: got %+v; want none", nodes)
	}
	wantStatus(t, "nodes outside a cluster", err, http.StatusBadRequest, "this node is not part of a cluster")
}

func TestFindNode(t *testing.T) {
	st := store.NewState()
	for _, n := range []*store.Node{
		{ID: "abc123", Hostname: "h1"}, {ID: "abd456", Hostname: "h1"}, {ID: "xyz789", Hostname: "h2"},
	} {
		st.Nodes[n.ID] = n
	}
	cases := []struct {
		ref, want, err string
	}{
		{"self", "abd456", ""},
		{"abc123", "abc123", ""},
		{"x", "xyz789", ""},
		{"abc", "abc123", ""},
		{"ab", "", "node ab is ambiguous: it matches abc123, abd456"},
		{"h2", "xyz789", ""},
		{"h1", "", "node h1 is ambiguous"},
		{"nope", "", "node nope not found"},
		{"", "", "not found"},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			n, err := findNode(st, c.ref, "abd456")
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("got %v, %v; want an error containing %q", n, err, c.err)
			case c.err == "" && (err != nil || n.ID != c.want):
				t.Fatalf("got %v, %v; want %s", n, err, c.want)
			}
		})
	}
}
