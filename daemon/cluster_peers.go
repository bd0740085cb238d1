package daemon

import (
	"time"

	"github.com/weftnet/weft/control/store"
)

// storedPeersWait bounds how long a restarted manager waits for its store
// to list the other nodes: its replica fills in once raft has a leader
// again, within a second or two.
const storedPeersWait = 5 * time.Second

// joinStoredPeers joins gossip through the other nodes a manager's store
// lists. The first manager of a cluster has no peers from a join to go
// back to after a restart; without this it would wait for the next
// rejoin round, and its containers' traffic with it.
func (d *Daemon) joinStoredPeers(c *clusterNode) {
	var peers []string
	for deadline := time.Now().Add(storedPeersWait); len(peers) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		peers = storedGossipPeers(c)
	}
	if len(peers) == 0 {
		return
	}
	if _, err := c.agent.Join(peers); err != nil {
		d.log.Warn("gossip join found no peer yet; retrying in the background", "peers", peers, "err", err)
		return
	}
	d.log.Debug("gossip joined through the nodes the store lists", "peers", peers)
}

// storedGossipPeers lists the gossip addresses of the nodes other than c
// in c's own replica of the cluster state.
func storedGossipPeers(c *clusterNode) []string {
	var peers []string
	c.store.Read(func(s *store.State) {
		for _, n := range s.Nodes {
			if n.ID != c.info.NodeID && n.GossipAddr.IsValid() {
				peers = append(peers, n.GossipAddr.String())
			}
		}
	})
	return peers
}
