// Package membership is this node's membership of a cluster: it inits,
// joins, resumes and leaves one, and holds the cluster node together with
// the reconciler that programs this node's copies of its networks.
//
// A membership is a cluster node and its reconciler, set together when
// this node inits, joins or resumes, and cleared together when it leaves.
// Init, join and leave talk to the managers and wait for raft with no lock
// held: the Membership's mutex is taken only to check that an operation
// may run and mark it in progress (Busy), so that two never overlap, and
// then to commit.
//
// Lock order: a caller may hold its own lock while it calls Current, Busy,
// BeginLeave or Left; the Membership never calls out with its mutex held.
package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/reconcile"
	"github.com/weftnet/weft/daemon/request"
)

// Config is what a Membership makes its cluster node and reconciler from.
type Config struct {
	// Cluster configures the node (state directory, data address, gossip,
	// key rotations, logger); Handler and OnState are the Membership's.
	Cluster cluster.Config
	// Host checks the addresses an init or join asks for.
	Host request.Host
	// Boot is this run of weftd (see reconcile.Config.Boot).
	Boot uint64
	// Plane and Zones are what the reconciler programs.
	Plane reconcile.DataPlane
	Zones reconcile.Zones
	// OnState is called with the managers' state after each poll, from the
	// cluster node's goroutine (see cluster.Config.OnState).
	OnState func(*cluster.Node, *store.State)
	// Advertise is called when this node opens a newer data key
	// generation of a network (see reconcile.Config.Advertise).
	Advertise func(network string, gen uint64)
	Log       *slog.Logger
}

// Membership is this node's membership of a cluster, or of none. Its
// methods are safe for concurrent use.
type Membership struct {
	cfg Config

	mu   sync.Mutex
	node *cluster.Node         // nil outside a cluster
	rec  *reconcile.Reconciler // node's reconciler; nil with it
	op   string                // "init", "join" or "leave" while one talks to the cluster unlocked
}

// New returns a membership of no cluster.
func New(cfg Config) *Membership { return &Membership{cfg: cfg} }

// Current returns the cluster node and its reconciler; both nil outside a
// cluster.
func (m *Membership) Current() (*cluster.Node, *reconcile.Reconciler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node, m.rec
}

// Busy names the init, join or leave in progress, if any.
func (m *Membership) Busy() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.op
}

// Resume brings back the membership this node had when weftd stopped, if
// it had one, with its reconciler running. The node is not started: the
// daemon starts it once it has published its records again.
func (m *Membership) Resume() error {
	h := m.newHandler()
	c, err := cluster.Resume(m.clusterConfig(h))
	if err != nil || c == nil {
		return err
	}
	m.Adopt(c, m.newReconciler(c, h))
	return nil
}

// Adopt makes node and rec this membership's, as a successful init, join
// or resume does.
func (m *Membership) Adopt(node *cluster.Node, rec *reconcile.Reconciler) {
	m.mu.Lock()
	m.node, m.rec, m.op = node, rec, ""
	m.mu.Unlock()
}

// Init makes this node the first manager of a new cluster.
func (m *Membership) Init(ctx context.Context, req api.ClusterInit) (api.ClusterInfo, error) {
	if err := m.beginJoin("init", req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	ireq, err := m.cfg.Host.Init(req)
	h := m.newHandler()
	var c *cluster.Node
	var tokens cluster.Tokens
	if err == nil {
		c, tokens, err = cluster.Init(ctx, m.clusterConfig(h), ireq)
	}
	if err != nil {
		m.end()
		return api.ClusterInfo{}, err
	}
	m.commit(c, h)
	return api.ClusterInfo{
		NodeID: c.ID(), Role: string(c.Role()), Managers: c.Managers(),
		WorkerToken: tokens.Worker.String(), ManagerToken: tokens.Manager.String(),
	}, nil
}

// Join joins the cluster that a token names, through one manager.
func (m *Membership) Join(ctx context.Context, req api.ClusterJoin) (api.ClusterInfo, error) {
	if err := m.beginJoin("join", req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	h := m.newHandler()
	c, err := m.join(ctx, req, h)
	if err != nil {
		m.end()
		return api.ClusterInfo{}, err
	}
	m.commit(c, h)
	return api.ClusterInfo{NodeID: c.ID(), Role: string(c.Role()), Managers: c.Managers()}, nil
}

// join reads a join request and joins. No lock is held: it waits on the
// managers.
func (m *Membership) join(ctx context.Context, req api.ClusterJoin, h *recordsHandler) (*cluster.Node, error) {
	token, err := pki.ParseToken(req.Token)
	if err != nil {
		return nil, api.BadRequest("%v", err)
	}
	adv, err := m.cfg.Host.Advertise(req.AdvertiseAddr)
	if err != nil {
		return nil, err
	}
	c, err := cluster.Join(ctx, m.clusterConfig(h), cluster.JoinRequest{Token: token, Via: req.RemoteAddr, Advertise: adv, Listen: req.ListenAddr})
	var refused *cluster.AdmitError
	if errors.As(err, &refused) {
		return nil, api.BadRequest("%v", err)
	}
	return c, err
}

// beginJoin checks that this node can start or join a cluster now and
// marks op ("init" or "join") in progress.
func (m *Membership) beginJoin(op, dataAddr string, dataPort int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.op != "":
		return busy(m.op)
	case m.node != nil:
		return api.Conflict("this node is already part of a cluster; leave it first")
	}
	if err := m.cfg.Host.CheckDataPath(dataAddr, dataPort); err != nil {
		return err
	}
	m.op = op
	return nil
}

// commit makes c this membership's node, with a reconciler for it, ending
// the init or join, and starts it.
func (m *Membership) commit(c *cluster.Node, h *recordsHandler) {
	m.Adopt(c, m.newReconciler(c, h))
	c.Start()
}

// end ends a failed init, join or leave.
func (m *Membership) end() {
	m.mu.Lock()
	m.op = ""
	m.mu.Unlock()
}

func busy(op string) error {
	return api.Conflict("a cluster %s is in progress on this node; try again once it is done", op)
}

// BeginLeave checks that this node may leave its cluster now and marks the
// leave in progress. attached says why not when containers are attached
// to cluster networks here; the caller holds whatever lock keeps that
// true until the leave is marked.
func (m *Membership) BeginLeave(force bool, attached func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.op != "":
		return busy(m.op)
	case m.node == nil:
		return api.NoCluster()
	}
	if err := attached(); err != nil {
		return err
	}
	if m.node.IsManager() && !force {
		return api.Conflict("this node is a manager; leaving may cost the cluster its quorum: use --force")
	}
	m.op = "leave"
	return nil
}

// Leave takes the node out of the cluster, after BeginLeave. On failure
// the leave ends and the node stays; on success the caller tears down its
// copies of the cluster's networks, then calls Left.
func (m *Membership) Leave(ctx context.Context, force bool) error {
	c, _ := m.Current()
	if err := c.Leave(ctx, force); err != nil {
		m.end()
		return fmt.Errorf("leave: %w (use --force to leave anyway)", err)
	}
	return nil
}

// Left ends the leave: this node is in no cluster any more. It returns the
// reconciler, which the caller closes once it holds no lock that the
// reconciler's goroutine may want.
func (m *Membership) Left() *reconcile.Reconciler {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.rec
	m.node, m.rec, m.op = nil, nil, ""
	return rec
}

// releaseTimeout bounds giving an address back to the managers.
const releaseTimeout = 30 * time.Second

// Network finds a cluster network by name in the managers' state, and
// returns it with the node that asked.
func (m *Membership) Network(ctx context.Context, name string) (*cluster.Node, *store.Network, error) {
	c, _ := m.Current()
	if c == nil {
		return nil, nil, api.NotFound("network %s not found", name)
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, nil, err
	}
	n := st.NetworkByName(name)
	if n == nil {
		return nil, nil, api.NotFound("network %s not found", name)
	}
	return c, n, nil
}

// Release gives an endpoint's address back to the managers through c,
// with its own deadline so that a caller's cancelled request does not leak
// the address. A manager that cannot be reached is logged: the address
// stays taken until the node is removed, which is safer than reusing it.
func (m *Membership) Release(c *cluster.Node, endpointID string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := c.Apply(ctx, store.Command{Op: store.OpRelease, EndpointID: endpointID}, nil); err != nil {
		m.cfg.Log.Warn("address not released", "endpoint", endpointID, "err", err)
	}
}

// Withdraw withdraws a detached endpoint's record from gossip and gives
// its address back.
func (m *Membership) Withdraw(c *cluster.Node, endpointID string) {
	c.Agent().Withdraw(endpointID)
	m.Release(c, endpointID)
}

// JoinToken returns a role's join token, rotating its secret first if
// asked. Only managers hand out tokens.
func (m *Membership) JoinToken(ctx context.Context, req api.JoinToken) (api.JoinToken, error) {
	c, _ := m.Current()
	role, roleErr := pki.ParseRole(req.Role)
	switch {
	case c == nil:
		return req, api.NoCluster()
	case !c.IsManager():
		return req, api.BadRequest("this node is not a manager: ask a manager for join tokens")
	case roleErr != nil:
		return req, api.BadRequest("unknown role %q: want worker or manager", req.Role)
	}
	tok, err := c.JoinToken(ctx, role, req.Rotate)
	if err != nil {
		return req, err
	}
	req.Token = tok.String()
	return req, nil
}

// Update changes the cluster's settings: the lifetime of the node
// certificates issued and renewed from now on. Only managers may.
func (m *Membership) Update(ctx context.Context, req api.ClusterUpdate) error {
	c, _ := m.Current()
	switch {
	case c == nil:
		return api.NoCluster()
	case !c.IsManager():
		return api.BadRequest("this node is not a manager: run 'weft cluster update' on a manager")
	}
	d, err := request.CertExpiry(req.CertExpiry)
	if err != nil || d == 0 {
		return err
	}
	return c.SetCertExpiry(ctx, d)
}

// Close stops the reconciler and the cluster node, as weftd stops; the
// membership stays on disk for the next run. The caller holds no lock
// that their goroutines may want.
func (m *Membership) Close() {
	c, rec := m.Current()
	if rec != nil {
		rec.Close()
	}
	if c != nil {
		_ = c.Close()
	}
}

// clusterConfig is the configuration of a cluster node of this membership;
// its gossip events go to the reconciler that handler is given.
func (m *Membership) clusterConfig(handler *recordsHandler) cluster.Config {
	cfg := m.cfg.Cluster
	cfg.Handler, cfg.OnState = handler, m.cfg.OnState
	return cfg
}

// newReconciler starts the reconciler of a cluster node, and points the
// node's gossip events at it.
func (m *Membership) newReconciler(c *cluster.Node, handler *recordsHandler) *reconcile.Reconciler {
	rec := reconcile.New(reconcile.Config{
		Node: c.ID(), Boot: m.cfg.Boot, DataAddr: m.cfg.Host.DataAddr.Addr(),
		Records: c.Agent(), Plane: m.cfg.Plane, Zones: m.cfg.Zones, State: c.State,
		Advertise: m.cfg.Advertise, Log: m.cfg.Log,
	})
	handler.rec.Store(rec)
	rec.Start()
	return rec
}

// newHandler returns the gossip handler of a new node.
func (m *Membership) newHandler() *recordsHandler { return &recordsHandler{log: m.cfg.Log} }

// recordsHandler forwards gossip events to the reconciler of its node,
// once there is one; events before that are covered by the reconcile that
// Track schedules.
type recordsHandler struct {
	rec atomic.Pointer[reconcile.Reconciler]
	log *slog.Logger
}

// RecordsChanged implements gossip.Handler.
func (h *recordsHandler) RecordsChanged(network string) {
	if rec := h.rec.Load(); rec != nil {
		rec.Schedule(network)
	}
}

// MemberChanged implements gossip.Handler.
func (h *recordsHandler) MemberChanged(mb gossip.Member) {
	h.log.Info("cluster member changed", "node", mb.ID, "state", mb.State, "addr", mb.Addr)
}
