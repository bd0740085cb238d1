package membership

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/request"
	"github.com/weftnet/weft/internal/freeport"
	"github.com/weftnet/weft/internal/leakcheck"
	"github.com/weftnet/weft/vtep"
)

// The tests run managers and workers on loopback, with raft and gossip
// over real sockets, as weftd runs them, without root. The data plane and
// the resolvers are fakes: these tests are about who is a member.

func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }

type nopPlane struct{}

func (nopPlane) Apply(uint32, vtep.NetworkState) error { return nil }

type nopZones struct{}

func (nopZones) SetZone(resolver.Zone) {}
func (nopZones) RemoveZone(string)     {}

// newMember returns a membership of no cluster for a node called name
// whose data path is 127.0.0.1:dataPort, and the address its 2377 will
// listen on; it is closed when the test ends.
func newMember(t *testing.T, name string, dataPort uint16) (*Membership, string) {
	cc := cluster.DefaultConfig()
	cc.StateDir, cc.Hostname, cc.GossipPort = t.TempDir(), name, freeport.Loopback(t)
	cc.DataAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dataPort)
	cc.PollInterval = 100 * time.Millisecond
	cc.Logger = slog.New(slog.DiscardHandler)
	m := New(Config{
		Cluster: cc, Host: request.Host{DataAddr: cc.DataAddr, UnderlayMTU: 1500}, Boot: 1,
		Plane: nopPlane{}, Zones: nopZones{}, OnState: func(*cluster.Node, *store.State) {},
		Advertise: func(string, uint64) {}, Log: cc.Logger,
	})
	t.Cleanup(m.Close)
	return m, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freeport.Loopback(t)).String()
}

// wantStatus fails unless err is an api.StatusError with status whose
// message contains want.
func wantStatus(t *testing.T, what string, err error, status int, want string) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != status || !strings.Contains(se.Message, want) {
		t.Errorf("%s: got %v; want a %d containing %q", what, err, status, want)
	}
}

func noneAttached() error { return nil }

func TestOutsideACluster(t *testing.T) {
	m, _ := newMember(t, "m1", 14789)
	if c, rec := m.Current(); c != nil || rec != nil {
		t.Fatalf("a new membership has node %v and reconciler %v", c, rec)
	}
	_, err := m.JoinToken(context.Background(), api.JoinToken{Role: "worker"})
	wantStatus(t, "join token", err, 400, "not part of a cluster")
	wantStatus(t, "leave", m.BeginLeave(true, noneAttached), 400, "not part of a cluster")
	_, err = m.Init(context.Background(), api.ClusterInit{DataPathAddr: "127.0.0.2"})
	wantStatus(t, "init on another data path", err, 400, "restart weftd with --data-path-addr 127.0.0.2")
	_, err = m.Join(context.Background(), api.ClusterJoin{Token: "SWMTKN-nonsense"})
	wantStatus(t, "join with a bad token", err, 400, "")
	if op := m.Busy(); op != "" {
		t.Errorf("refused operations left %q in progress", op)
	}
}

func TestInitJoinLeave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, madv := newMember(t, "m1", 14789)
	info, err := m.Init(ctx, api.ClusterInit{AdvertiseAddr: madv, ListenAddr: madv, DefaultAddrPool: "198.19.0.0/16"})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if c, rec := m.Current(); c == nil || rec == nil || info.Role != "manager" || info.WorkerToken == "" {
		t.Fatalf("after init: node %v, reconciler %v, %+v", c, rec, info)
	}
	_, err = m.Init(ctx, api.ClusterInit{AdvertiseAddr: madv, ListenAddr: madv})
	wantStatus(t, "second init", err, 409, "already part of a cluster")
	tok, err := m.JoinToken(ctx, api.JoinToken{Role: "worker"})
	if err != nil || tok.Token != info.WorkerToken {
		t.Errorf("worker token: got %q, %v; want the init's %q", tok.Token, err, info.WorkerToken)
	}
	_, err = m.JoinToken(ctx, api.JoinToken{Role: "admin"})
	wantStatus(t, "token of an unknown role", err, 400, `unknown role "admin"`)

	w, wadv := newMember(t, "w1", 24789)
	winfo, err := w.Join(ctx, api.ClusterJoin{Token: info.WorkerToken, RemoteAddr: madv, AdvertiseAddr: wadv, ListenAddr: wadv})
	if err != nil || winfo.Role != "worker" {
		t.Fatalf("join: %+v, %v", winfo, err)
	}
	_, err = w.JoinToken(ctx, api.JoinToken{Role: "worker"})
	wantStatus(t, "token from a worker", err, 400, "not a manager")

	wantStatus(t, "manager leaves without force", m.BeginLeave(false, noneAttached), 409, "use --force")
	attached := func() error { return api.Conflict("containers are attached") }
	wantStatus(t, "leave with containers", w.BeginLeave(false, attached), 409, "containers are attached")
	if op := w.Busy(); op != "" {
		t.Fatalf("a refused leave left %q in progress", op)
	}

	if err := w.BeginLeave(false, noneAttached); err != nil {
		t.Fatal(err)
	}
	_, err = w.Join(ctx, api.ClusterJoin{Token: info.WorkerToken, RemoteAddr: madv})
	wantStatus(t, "join during a leave", err, 409, "a cluster leave is in progress")
	if err := w.Leave(ctx, false); err != nil {
		t.Fatal(err)
	}
	rec := w.Left()
	if rec == nil {
		t.Fatal("Left returned no reconciler to close")
	}
	rec.Close()
	if c, rec := w.Current(); c != nil || rec != nil || w.Busy() != "" {
		t.Errorf("after leaving: node %v, reconciler %v, busy %q", c, rec, w.Busy())
	}
}

// TestJoinHoldsNoLock: while a join waits on a manager that accepts TCP
// and never answers, the membership answers Current and Busy at once,
// says the join is in progress, and refuses a second one.
func TestJoinHoldsNoLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, madv := newMember(t, "m1", 14789)
	info, err := m.Init(ctx, api.ClusterInit{AdvertiseAddr: madv, ListenAddr: madv})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	w, wadv := newMember(t, "w1", 24789)
	joinCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := w.Join(joinCtx, api.ClusterJoin{Token: info.WorkerToken, RemoteAddr: silent.Addr().String(), AdvertiseAddr: wadv, ListenAddr: wadv})
		done <- err
	}()
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-ctx.Done():
		t.Fatal("the join never reached the silent manager")
	}
	for range 5 {
		start := time.Now()
		c, _ := w.Current()
		op := w.Busy()
		if took := time.Since(start); took > 200*time.Millisecond || c != nil || op != "join" {
			t.Fatalf("during the join: node %v, busy %q, answered in %v", c, op, took)
		}
		_, err := w.Join(ctx, api.ClusterJoin{Token: info.WorkerToken, RemoteAddr: madv})
		wantStatus(t, "a second join", err, 409, "a cluster join is in progress")
	}
	stop()
	if err := <-done; err == nil {
		t.Fatal("a join through a silent manager succeeded")
	}
	if op := w.Busy(); op != "" {
		t.Errorf("a failed join left %q in progress", op)
	}
}
