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

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
)

// diagDaemon returns a daemon outside any cluster with two static-peer
// networks, net1 (VNI 171, peers .2 and .3) and net2 (VNI 172, peer .2),
// and in its FDB one row on net1, learned behind .9, which is no peer.
func diagDaemon(t *testing.T) *Daemon {
	t.Helper()
	d := testDaemon()
	d.fdb, d.reg, d.log = fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler)
	peer2, peer3 := netip.MustParseAddrPort("198.18.0.2:4789"), netip.MustParseAddrPort("198.18.0.3:4789")
	d.st.Networks["net1"] = &netState{Name: "net1", VNI: 171, Peers: []netip.AddrPort{peer2, peer3}, Endpoints: map[string]*endpoint{}}
	d.st.Networks["net2"] = &netState{Name: "net2", VNI: 172, Peers: []netip.AddrPort{peer2}, Endpoints: map[string]*endpoint{}}
	d.fdb.Learn(171, fdb.MAC{0x02, 0, 0, 0, 0, 0xa}, netip.MustParseAddrPort("198.18.0.9:4789"), time.Now())
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

// TestDiagAPI: the API's diagnostics read this daemon's networks, FDB,
// counters and data address (the logic is daemon/diag's, tested there).
func TestDiagAPI(t *testing.T) {
	d := diagDaemon(t)
	peer3 := netip.MustParseAddrPort("198.18.0.3:4789")
	d.reg.Peers.Set([]netip.AddrPort{peer3})
	d.reg.Peers.Destination(peer3).AddTx(3, 300)
	cl := serveAPI(t, d)
	ctx := context.Background()
	peers, err := cl.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range peers {
		order = append(order, fmt.Sprintf("%s %s %v", p.VTEP, p.State, p.Networks))
	}
	if want := []string{"198.18.0.2:4789 static [net1 net2]", "198.18.0.3:4789 static [net1]", "198.18.0.9:4789 learned [net1]"}; !slices.Equal(order, want) {
		t.Fatalf("peers: got %q; want %q", order, want)
	}
	if p := peers[1]; p.TxPackets != 3 || p.TxBytes != 300 {
		t.Errorf("counters of .3: got tx %d/%d; want 3/300", p.TxPackets, p.TxBytes)
	}
	tables, err := cl.FDB(ctx, "net1")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].VNI != 171 || len(tables[0].MACs) != 1 || tables[0].MACs[0].VTEP != "198.18.0.9:4789" {
		t.Errorf("net1's FDB: got %+v; want its one row, behind .9", tables)
	}
	info, err := cl.Node(ctx, "self")
	if err != nil {
		t.Fatal(err)
	}
	if info.Addresses.DataPath != "198.18.0.1:4789" || !slices.Equal(info.Networks, []string{"net1", "net2"}) {
		t.Errorf("self outside a cluster: got %+v", info)
	}
	for _, c := range []struct {
		method, target string
		code           int
		msg            string
	}{
		{http.MethodGet, "/v1/fdb?network=nosuch", http.StatusNotFound, "network nosuch not found"},
		{http.MethodGet, "/v1/nodes/abc", http.StatusNotFound, "node abc not found"},
		{http.MethodGet, "/v1/nodes", http.StatusBadRequest, "this node is not part of a cluster"},
		{http.MethodDelete, "/v1/nodes/abc", http.StatusBadRequest, "this node is not part of a cluster"},
	} {
		if code, msg := status(t, d, c.method, c.target, ""); code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s %s: got %d %q; want %d %q", c.method, c.target, code, msg, c.code, c.msg)
		}
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
