package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/membership"
	"github.com/weftnet/weft/daemon/request"
	"github.com/weftnet/weft/internal/freeport"
	"github.com/weftnet/weft/vtep"
)

type nopPlane struct{}

func (nopPlane) Apply(uint32, vtep.NetworkState) error { return nil }

type nopZones struct{}

func (nopZones) SetZone(resolver.Zone) {}
func (nopZones) RemoveZone(string)     {}

// loopbackMember returns a membership of no cluster on loopback, with a
// fake data plane, and the address its 2377 will listen on.
func loopbackMember(t *testing.T, name string) (*membership.Membership, string) {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	cc := cluster.DefaultConfig()
	cc.StateDir, cc.Hostname, cc.GossipPort = t.TempDir(), name, freeport.Loopback(t)
	cc.DataAddr = netip.AddrPortFrom(lo, freeport.Loopback(t))
	cc.PollInterval = 100 * time.Millisecond
	cc.Logger = slog.New(slog.DiscardHandler)
	m := membership.New(membership.Config{
		Cluster: cc, Host: request.Host{DataAddr: cc.DataAddr, UnderlayMTU: 1500}, Boot: 1,
		Plane: nopPlane{}, Zones: nopZones{}, OnState: func(*cluster.Node, *store.State) {},
		Advertise: func(string, uint64) {}, Log: cc.Logger,
	})
	t.Cleanup(m.Close)
	return m, netip.AddrPortFrom(lo, freeport.Loopback(t)).String()
}

// loopbackCluster returns the daemons of a manager and a worker of a new
// cluster on loopback, with fake data planes.
func loopbackCluster(ctx context.Context, t *testing.T) (manager, worker *Daemon) {
	t.Helper()
	m, madv := loopbackMember(t, "m1")
	info, err := m.Init(ctx, api.ClusterInit{AdvertiseAddr: madv, ListenAddr: madv, DefaultAddrPool: "198.19.0.0/16"})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	w, wadv := loopbackMember(t, "w1")
	if _, err := w.Join(ctx, api.ClusterJoin{Token: info.WorkerToken, RemoteAddr: madv, AdvertiseAddr: wadv, ListenAddr: wadv}); err != nil {
		t.Fatalf("join: %v", err)
	}
	manager, worker = testDaemon(), testDaemon()
	manager.member, worker.member = m, w
	manager.log, worker.log = slog.New(slog.DiscardHandler), slog.New(slog.DiscardHandler)
	return manager, worker
}

// On a worker, creating or removing a cluster network is refused with a
// message that says to run it on a manager; on a manager it works.
func TestClusterNetworkOnWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	manager, worker := loopbackCluster(ctx, t)
	req := api.NetworkCreate{Name: "web", Attachable: true, Subnet: "198.19.9.0/24"}
	_, err := worker.CreateNetwork(ctx, req)
	wantNotManager(t, "network create on a worker", err)
	if _, err := manager.CreateNetwork(ctx, req); err != nil {
		t.Fatalf("network create on a manager: %v", err)
	}
	wantNotManager(t, "network rm on a worker", worker.RemoveNetwork(ctx, "web"))
	if err := manager.RemoveNetwork(ctx, "web"); err != nil {
		t.Fatalf("network rm on a manager: %v", err)
	}
}

func wantNotManager(t *testing.T, what string, err error) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(se.Message, "run this command on a manager node") {
		t.Errorf("%s: got %v; want a 400 saying to run it on a manager", what, err)
	}
}

// An attach that ended between the managers' allocation and the save (a
// crash, a client gone) left an allocation that no endpoint of this node
// has: the reconcile with the managers' state gives it back, so that its
// name can be attached again, and keeps the allocations of the saved
// endpoints and of the attaches in flight.
func TestReconcileReleasesLeakedAllocations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	manager, worker := loopbackCluster(ctx, t)
	worker.cfg.StateDir = t.TempDir()
	nw, err := manager.CreateNetwork(ctx, api.NetworkCreate{Name: "web", Attachable: true, Subnet: "198.19.9.0/24"})
	if err != nil {
		t.Fatalf("network create: %v", err)
	}
	c, _ := worker.member.Current()
	allocate := func(id, name string) error {
		a := &store.Allocation{EndpointID: id, NetworkID: nw.ID, Node: c.ID(), Name: name, MAC: randomMAC().String()}
		return c.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: a}, nil)
	}
	worker.attaching["inflight"] = true
	for id, name := range map[string]string{"saved": "kept", "leaked": "c1", "inflight": "c2"} {
		if err := allocate(id, name); err != nil {
			t.Fatalf("allocate %s: %v", name, err)
		}
	}
	worker.st.Networks["web"] = &netState{ID: nw.ID, Name: "web", VNI: nw.VNI, Cluster: true,
		Endpoints: map[string]*endpoint{"saved": {ID: "saved", Name: "kept"}}}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	worker.followCluster(c, st)
	if st, err = c.State(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Allocations["leaked"]; ok {
		t.Errorf("leaked allocation: got it still held; want it released")
	}
	for _, id := range []string{"saved", "inflight"} {
		if _, ok := st.Allocations[id]; !ok {
			t.Errorf("allocation of %s: got it released; want it kept", id)
		}
	}
	if err := allocate("again", "c1"); err != nil {
		t.Errorf("attach c1 again: got %v; want success", err)
	}
}
