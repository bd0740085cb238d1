package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
)

var (
	peer2   = netip.MustParseAddrPort("198.18.0.2:4789")
	peer3   = netip.MustParseAddrPort("198.18.0.3:4789")
	learned = netip.MustParseAddrPort("198.18.0.9:4789")
	macA    = fdb.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB    = fdb.MAC{0x02, 0, 0, 0, 0, 0xb}
)

// diagDaemon returns a daemon outside any cluster with two static-peer
// networks, net1 (VNI 171, peers .2 and .3) and net2 (VNI 172, peer .2),
// and these rows in its FDB: on net1, macA learned 2 s ago behind .2 with
// 198.19.71.3, and macB learned behind .9, which is no peer; on VNI 999,
// which no network has, a static row.
func diagDaemon(t *testing.T) *Daemon {
	t.Helper()
	d := testDaemon()
	d.fdb, d.reg, d.log = fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler)
	d.st.Networks["net1"] = &netState{Name: "net1", VNI: 171, Peers: []netip.AddrPort{peer2, peer3}, Endpoints: map[string]*endpoint{}}
	d.st.Networks["net2"] = &netState{Name: "net2", VNI: 172, Peers: []netip.AddrPort{peer2}, Endpoints: map[string]*endpoint{}}
	now := time.Now()
	d.fdb.Learn(171, macA, peer2, now.Add(-2*time.Second))
	d.fdb.LearnIP(171, netip.MustParseAddr("198.19.71.3"), macA, now.Add(-2*time.Second))
	d.fdb.Learn(171, macB, learned, now)
	d.fdb.AddStatic(999, macB, peer3)
	return d
}

// serveAPI serves d's API on a unix socket until the test ends and returns
// a client of it.
func serveAPI(t *testing.T, d *Daemon) *api.Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: apiHandler(d), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	cl, err := api.NewClient("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// status calls the API handler directly and returns the status and the
// error message of the reply, if any.
func status(t *testing.T, d *Daemon, method, target, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	apiHandler(d).ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	var e api.Error
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, e.Message
}

func TestPeersAPI(t *testing.T) {
	d := diagDaemon(t)
	d.reg.Peers.Set([]netip.AddrPort{peer2, peer3})
	d.reg.Peers.Destination(peer3).AddTx(3, 300)
	counted := time.Now().Add(-time.Second)
	d.reg.Peers.Sender(peer3).AddRx(2, 200, counted.UnixNano())
	peers, err := serveAPI(t, d).Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
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

func TestFDBAPI(t *testing.T) {
	d := diagDaemon(t)
	cl := serveAPI(t, d)
	all, err := cl.FDB(context.Background(), "")
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
	one, err := cl.FDB(context.Background(), "net1")
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
	code, msg := status(t, d, http.MethodGet, "/v1/fdb?network=nosuch", "")
	if code != http.StatusNotFound || !strings.Contains(msg, "network nosuch not found") {
		t.Errorf("unknown network: got %d %q; want 404 naming it", code, msg)
	}
}

func TestNodeInfoStandalone(t *testing.T) {
	d := diagDaemon(t)
	info, err := serveAPI(t, d).Node(context.Background(), "self")
	if err != nil {
		t.Fatal(err)
	}
	if info.Role != api.RoleStandalone || !info.Self || info.Status != "Ready" || info.ID != "" ||
		info.Addresses.DataPath != "198.18.0.1:4789" || info.Addresses.Gossip != "" || info.ManagerStatus != nil ||
		!slices.Equal(info.Networks, []string{"net1", "net2"}) || info.Version == "" {
		t.Errorf("self outside a cluster: got %+v", info)
	}
	code, msg := status(t, d, http.MethodGet, "/v1/nodes/abc", "")
	if code != http.StatusNotFound || !strings.Contains(msg, "node abc not found") {
		t.Errorf("another node outside a cluster: got %d %q; want 404", code, msg)
	}
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

func TestVersionAPI(t *testing.T) {
	v, err := serveAPI(t, diagDaemon(t)).Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.APIVersion != api.APIVersion || v.GoVersion != runtime.Version() || v.Version == "" {
		t.Errorf("got %+v; want API %s, %s", v, api.APIVersion, runtime.Version())
	}
}
