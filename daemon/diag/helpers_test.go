package diag

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/leakcheck"
	"github.com/weftnet/weft/metrics"
)

// TestMain fails the package's tests if a cluster node they started
// leaves a goroutine running after its test cleaned up.
func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }

var (
	peer2   = netip.MustParseAddrPort("198.18.0.2:4789")
	peer3   = netip.MustParseAddrPort("198.18.0.3:4789")
	learned = netip.MustParseAddrPort("198.18.0.9:4789")
	macA    = fdb.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB    = fdb.MAC{0x02, 0, 0, 0, 0, 0xb}
	macC    = fdb.MAC{0x02, 0, 0, 0, 0, 0xc}
)

// fakeSource is the daemon as the Reporter sees it: a cluster node, nil
// outside a cluster, and networks in the order given.
type fakeSource struct {
	c    *cluster.Node
	nets []Network
}

// DiagSnapshot returns a copy, as the daemon does, so that a Reporter that
// changed it would not go unseen by the next call.
func (f *fakeSource) DiagSnapshot() (*cluster.Node, []Network) {
	return f.c, slices.Clone(f.nets)
}

var _ Source = (*fakeSource)(nil)

// staticReporter returns a Reporter outside any cluster over two
// static-peer networks, given out of order: net2 (VNI 172, peer .2) and
// net1 (VNI 171, peers .2 and .3); and these rows in its FDB: on net1,
// macA learned 2 s ago behind .2 with 198.19.71.3, and macB learned behind
// .9, which is no peer; on VNI 999, which no network has, a static row.
func staticReporter() *Reporter {
	r := &Reporter{
		Source: &fakeSource{nets: []Network{
			{Name: "net2", VNI: 172, Peers: []netip.AddrPort{peer2}},
			{Name: "net1", VNI: 171, Peers: []netip.AddrPort{peer2, peer3}},
		}},
		Table: fdb.New(), Metrics: metrics.NewRegistry(),
		DataAddr: netip.MustParseAddrPort("198.18.0.1:4789"), Log: slog.New(slog.DiscardHandler),
	}
	now := time.Now()
	r.Table.Learn(171, macA, peer2, now.Add(-2*time.Second))
	r.Table.LearnIP(171, netip.MustParseAddr("198.19.71.3"), macA, now.Add(-2*time.Second))
	r.Table.Learn(171, macB, learned, now)
	r.Table.AddStatic(999, macB, peer3)
	return r
}

// wantStatus fails the test unless err is an api.StatusError with status
// code whose message contains msg.
func wantStatus(t *testing.T, what string, err error, code int, msg string) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != code || !strings.Contains(se.Message, msg) {
		t.Errorf("%s: got %v; want a %d containing %q", what, err, code, msg)
	}
}
