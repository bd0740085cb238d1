package daemon

import (
	"sync/atomic"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/reconcile"
)

// MinDataKeyRotation is the shortest data key rotation period weftd
// accepts: nodes fetch keys every second (reconcile.DefaultKeyPoll), and
// three generations stay live.
const MinDataKeyRotation = 3 * reconcile.DefaultKeyPoll

// A membership of a cluster is a cluster node (d.cl) and the reconciler
// that programs this node's copies of its networks from gossip (d.rec):
// both are set together when this node inits, joins or resumes, and
// cleared together when it leaves.

// clusterConfig is the configuration of a cluster node for this daemon;
// its gossip events go to the reconciler that handler is given.
func (d *Daemon) clusterConfig(handler *recordsHandler) cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.StateDir, cfg.DataAddr, cfg.GossipPort, cfg.Gossip = d.cfg.StateDir, d.host.DataAddr, d.cfg.GossipPort, d.cfg.Gossip
	cfg.GossipKeyRotation, cfg.DataKeyRotation = d.cfg.GossipKeyRotation, d.cfg.DataKeyRotation
	cfg.Handler, cfg.OnState, cfg.Logger = handler, d.followCluster, d.log
	return cfg
}

// newReconciler starts the reconciler of a cluster node, and points the
// node's gossip events at it.
func (d *Daemon) newReconciler(c *cluster.Node, handler *recordsHandler) *reconcile.Reconciler {
	rec := reconcile.New(reconcile.Config{
		Node: c.ID(), Boot: d.boot, DataAddr: d.host.DataAddr.Addr(),
		Records: c.Agent(), Plane: d.engine, Zones: d.dns, State: c.State,
		Advertise: d.advertise, Log: d.log,
	})
	handler.rec.Store(rec)
	rec.Start()
	return rec
}

// recordsHandler forwards gossip events to the reconciler of its
// membership, once there is one; events before that are covered by the
// reconcile that Track schedules.
type recordsHandler struct {
	rec atomic.Pointer[reconcile.Reconciler]
	log func(gossip.Member)
}

// RecordsChanged implements gossip.Handler.
func (h *recordsHandler) RecordsChanged(network string) {
	if rec := h.rec.Load(); rec != nil {
		rec.Schedule(network)
	}
}

// MemberChanged implements gossip.Handler.
func (h *recordsHandler) MemberChanged(m gossip.Member) { h.log(m) }

// newHandler returns the gossip handler of a new membership.
func (d *Daemon) newHandler() *recordsHandler {
	return &recordsHandler{log: func(m gossip.Member) {
		d.log.Info("cluster member changed", "node", m.ID, "state", m.State, "addr", m.Addr)
	}}
}

// advertise gossips this node's endpoints on a network again, now that it
// opens data key generation gen there (see reconcile.Config.Advertise).
func (d *Daemon) advertise(networkID string, _ uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.st.Networks {
		if n.Cluster && n.ID == networkID && d.cl != nil {
			for _, ep := range n.Endpoints {
				d.publish(n, ep)
			}
		}
	}
}

// NetworkKeys lists the SAs of an encrypted network on this node, with
// their keys, so that an operator can decrypt a capture (for example with
// Wireshark's ESP preferences). The API socket is root's only.
func (d *Daemon) NetworkKeys(name string) ([]api.SA, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.st.Networks[name]
	switch {
	case !ok:
		return nil, notFound("network %s has no containers on this node", name)
	case !n.Encrypted || d.rec == nil:
		return nil, badRequest("network %s is not encrypted", name)
	}
	return d.rec.SAs(n.ID), nil
}
