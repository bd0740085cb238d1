package daemon

import (
	"context"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/membership"
)

// MinKeyRotation is the shortest gossip key rotation period weftd accepts.
const MinKeyRotation = cluster.MinKeyRotation

// Cluster membership is daemon/membership's: init, join and join tokens
// are its alone. Leaving is the daemon's too, since it tears down this
// node's copies of the cluster's networks; it marks the leave in progress
// under d.mu, so that no attach slips into it, talks to the managers with
// no lock held, then commits under d.mu.

// clusterAPI is what the local API does with the cluster.
type clusterAPI struct {
	*membership.Membership // Init, Join, JoinToken, Update
	d                      *Daemon
}

// Leave takes this node out of its cluster (see Daemon.ClusterLeave).
func (a clusterAPI) Leave(ctx context.Context, req api.ClusterLeave) error {
	return a.d.ClusterLeave(ctx, req)
}

// RemoveNode removes another node from the cluster (see
// Daemon.RemoveNode).
func (a clusterAPI) RemoveNode(ctx context.Context, id string, force bool) error {
	return a.d.RemoveNode(ctx, id, force)
}

// releaseOrphans gives back the addresses of cluster attachments that
// disappeared while weftd was down.
func (d *Daemon) releaseOrphans(c *cluster.Node) {
	d.mu.Lock()
	orphans := d.orphans
	d.orphans = nil
	d.mu.Unlock()
	for _, id := range orphans {
		d.member.Release(c, id)
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

// ClusterLeave takes this node out of its cluster. It refuses while
// containers are attached to cluster networks here, and a manager needs
// --force (the cluster may lose its quorum).
func (d *Daemon) ClusterLeave(ctx context.Context, req api.ClusterLeave) error {
	d.mu.Lock()
	err := d.member.BeginLeave(req.Force, func() error {
		for _, n := range d.st.Networks {
			if n.Cluster && len(n.Endpoints) > 0 {
				return conflict("containers are attached to cluster network %s here: %s; detach them first", n.Name, endpointList(n))
			}
		}
		return nil
	})
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if err := d.member.Leave(ctx, req.Force); err != nil {
		return err
	}
	d.mu.Lock()
	d.stopClusterNetworksLocked()
	rec := d.member.Left()
	err = d.save()
	d.mu.Unlock()
	rec.Close() // outside d.mu: its goroutine may want d.mu
	return err
}

// RemoveNode removes a node from the cluster's records (and from raft if
// it is a manager) and frees its addresses. A node that is still up needs
// force.
func (d *Daemon) RemoveNode(ctx context.Context, id string, force bool) error {
	c, _ := d.member.Current()
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
