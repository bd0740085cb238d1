package daemon

import (
	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/membership"
	"github.com/weftnet/weft/daemon/reconcile"
)

// MinDataKeyRotation is the shortest data key rotation period weftd
// accepts: nodes fetch keys every second (reconcile.DefaultKeyPoll), and
// three generations stay live.
const MinDataKeyRotation = 3 * reconcile.DefaultKeyPoll

// newMembership returns d's membership of no cluster yet: its cluster
// node follows the managers' state into d (followCluster), and its
// reconciler programs d's engine and resolvers.
func newMembership(d *Daemon) *membership.Membership {
	cc := cluster.DefaultConfig()
	cc.StateDir, cc.DataAddr, cc.GossipPort, cc.Gossip = d.cfg.StateDir, d.host.DataAddr, d.cfg.GossipPort, d.cfg.Gossip
	cc.GossipKeyRotation, cc.DataKeyRotation, cc.Logger = d.cfg.GossipKeyRotation, d.cfg.DataKeyRotation, d.log
	return membership.New(membership.Config{
		Cluster: cc, Host: d.host, Boot: d.boot, Plane: d.engine, Zones: d.dns,
		OnState: d.followCluster, Advertise: d.advertise, Log: d.log,
	})
}

// advertise gossips this node's endpoints on a network again, now that it
// opens data key generation gen there (see reconcile.Config.Advertise).
func (d *Daemon) advertise(networkID string, _ uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, _ := d.member.Current()
	for _, n := range d.st.Networks {
		if n.Cluster && n.ID == networkID && c != nil {
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
	_, rec := d.member.Current()
	switch {
	case !ok:
		return nil, notFound("network %s has no containers on this node", name)
	case !n.Encrypted || rec == nil:
		return nil, badRequest("network %s is not encrypted", name)
	}
	return rec.SAs(n.ID), nil
}
