package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/daemon/api"
)

// MinKeyRotation is the shortest gossip key rotation period weftd accepts.
const MinKeyRotation = cluster.MinKeyRotation

// Cluster membership. d.cl is this node's cluster node, nil outside a
// cluster. Init, join and leave talk to the managers, wait for raft and
// join or leave gossip with no lock of the daemon held: they take d.mu
// only to check that they may run and mark themselves in progress
// (d.clusterOp), so that two never overlap and no attach slips into a
// leave, and then to commit.

// resumeCluster brings a node that was in a cluster back after a restart,
// with its reconciler. It runs before the daemon serves anything, so it
// takes no lock.
func (d *Daemon) resumeCluster() error {
	h := d.newHandler()
	c, err := cluster.Resume(d.clusterConfig(h))
	if err != nil || c == nil {
		return err
	}
	d.cl, d.rec = c, d.newReconciler(c, h)
	return nil
}

// releaseOrphans gives back the addresses of cluster attachments that
// disappeared while weftd was down.
func (d *Daemon) releaseOrphans(c *cluster.Node) {
	d.mu.Lock()
	orphans := d.orphans
	d.orphans = nil
	d.mu.Unlock()
	for _, id := range orphans {
		d.release(c, id)
	}
}

// dropClusterNetworks tears down copies of cluster networks when this node
// is in no cluster (it left, and crashed before saving that).
func (d *Daemon) dropClusterNetworks() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopClusterNetworksLocked() {
		_ = d.save()
	}
}

// stopClusterNetworksLocked tears down this node's copies of cluster
// networks and reports whether there were any. The caller holds d.mu and
// saves.
func (d *Daemon) stopClusterNetworksLocked() bool {
	changed := false
	for name, n := range d.st.Networks {
		if n.Cluster {
			delete(d.st.Networks, name)
			d.stopNetwork(n)
			changed = true
		}
	}
	return changed
}

// ClusterInit makes this node the first manager of a new cluster.
func (d *Daemon) ClusterInit(ctx context.Context, req api.ClusterInit) (api.ClusterInfo, error) {
	if err := d.beginJoin("init", req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	ireq, err := d.host.Init(req)
	h := d.newHandler()
	var c *cluster.Node
	var tokens cluster.Tokens
	if err == nil {
		c, tokens, err = cluster.Init(ctx, d.clusterConfig(h), ireq)
	}
	if err != nil {
		d.endClusterOp()
		return api.ClusterInfo{}, err
	}
	d.commitJoin(c, h)
	return api.ClusterInfo{
		NodeID: c.ID(), Role: string(c.Role()), Managers: c.Managers(),
		WorkerToken: tokens.Worker.String(), ManagerToken: tokens.Manager.String(),
	}, nil
}

// ClusterJoin joins the cluster that a token names, through one manager.
func (d *Daemon) ClusterJoin(ctx context.Context, req api.ClusterJoin) (api.ClusterInfo, error) {
	if err := d.beginJoin("join", req.DataPathAddr, req.DataPathPort); err != nil {
		return api.ClusterInfo{}, err
	}
	h := d.newHandler()
	c, err := d.join(ctx, req, h)
	if err != nil {
		d.endClusterOp()
		return api.ClusterInfo{}, err
	}
	d.commitJoin(c, h)
	return api.ClusterInfo{NodeID: c.ID(), Role: string(c.Role()), Managers: c.Managers()}, nil
}

// join reads a join request and joins. No lock is held: it waits on the
// managers.
func (d *Daemon) join(ctx context.Context, req api.ClusterJoin, h *recordsHandler) (*cluster.Node, error) {
	token, err := pki.ParseToken(req.Token)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	adv, err := d.host.Advertise(req.AdvertiseAddr)
	if err != nil {
		return nil, err
	}
	c, err := cluster.Join(ctx, d.clusterConfig(h), cluster.JoinRequest{Token: token, Via: req.RemoteAddr, Advertise: adv, Listen: req.ListenAddr})
	var refused *cluster.AdmitError
	if errors.As(err, &refused) {
		return nil, badRequest("%v", err)
	}
	return c, err
}

// beginJoin checks that this node can start or join a cluster now and
// marks op ("init" or "join") in progress.
func (d *Daemon) beginJoin(op, dataAddr string, dataPort int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkJoinable(dataAddr, dataPort); err != nil {
		return err
	}
	d.clusterOp = op
	return nil
}

// commitJoin makes c this daemon's cluster node, with a reconciler for
// it, ending the init or join, and starts it.
func (d *Daemon) commitJoin(c *cluster.Node, h *recordsHandler) {
	rec := d.newReconciler(c, h)
	d.mu.Lock()
	d.cl, d.rec, d.clusterOp = c, rec, ""
	d.mu.Unlock()
	c.Start()
}

// endClusterOp ends a failed init, join or leave.
func (d *Daemon) endClusterOp() {
	d.mu.Lock()
	d.clusterOp = ""
	d.mu.Unlock()
}

// checkJoinable says why this node cannot start or join a cluster now, if
// it cannot. The caller holds d.mu.
func (d *Daemon) checkJoinable(dataAddr string, dataPort int) error {
	if d.clusterOp != "" {
		return conflict("a cluster %s is in progress on this node; try again once it is done", d.clusterOp)
	}
	if d.cl != nil {
		return conflict("this node is already part of a cluster; leave it first")
	}
	return d.host.CheckDataPath(dataAddr, dataPort)
}

// JoinToken returns a role's join token, rotating its secret first if asked.
// Only managers hand out tokens.
func (d *Daemon) JoinToken(ctx context.Context, req api.JoinToken) (api.JoinToken, error) {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	role, roleErr := pki.ParseRole(req.Role)
	switch {
	case c == nil:
		return req, api.NoCluster()
	case !c.IsManager():
		return req, badRequest("this node is not a manager: ask a manager for join tokens")
	case roleErr != nil:
		return req, badRequest("unknown role %q: want worker or manager", req.Role)
	}
	tok, err := c.JoinToken(ctx, role, req.Rotate)
	if err != nil {
		return req, err
	}
	req.Token = tok.String()
	return req, nil
}

// ClusterLeave takes this node out of its cluster. It refuses while
// containers are attached to cluster networks here, and a manager needs
// --force (the cluster may lose its quorum).
func (d *Daemon) ClusterLeave(ctx context.Context, req api.ClusterLeave) error {
	c, err := d.beginLeave(req.Force)
	if err != nil {
		return err
	}
	if err := c.Leave(ctx, req.Force); err != nil {
		d.endClusterOp()
		return fmt.Errorf("leave: %w (use --force to leave anyway)", err)
	}
	d.mu.Lock()
	d.stopClusterNetworksLocked()
	rec := d.rec
	d.cl, d.rec, d.clusterOp = nil, nil, ""
	err = d.save()
	d.mu.Unlock()
	rec.Close() // outside d.mu: its goroutine may want d.mu
	return err
}

// beginLeave checks that this node may leave its cluster now, and marks
// the leave in progress.
func (d *Daemon) beginLeave(force bool) (*cluster.Node, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cl
	switch {
	case d.clusterOp != "":
		return nil, conflict("a cluster %s is in progress on this node; try again once it is done", d.clusterOp)
	case c == nil:
		return nil, api.NoCluster()
	}
	for _, n := range d.st.Networks {
		if n.Cluster && len(n.Endpoints) > 0 {
			return nil, conflict("containers are attached to cluster network %s here: %s; detach them first", n.Name, endpointList(n))
		}
	}
	if c.IsManager() && !force {
		return nil, conflict("this node is a manager; leaving may cost the cluster its quorum: use --force")
	}
	d.clusterOp = "leave"
	return c, nil
}

// RemoveNode removes a node from the cluster's records (and from raft if
// it is a manager) and frees its addresses. A node that is still up needs
// force.
func (d *Daemon) RemoveNode(ctx context.Context, id string, force bool) error {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	nodes, err := diagnostics(d).Nodes(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.ID != id {
			continue
		}
		if n.Status == "Ready" && !force {
			return conflict("node %s is Ready: stop it first, or use --force", id)
		}
		if n.Self {
			return conflict("node %s is this node: use 'weft cluster leave'", id)
		}
		return c.RemoveNode(ctx, id)
	}
	return notFound("node %s not found", id)
}
