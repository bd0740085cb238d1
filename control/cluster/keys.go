package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
)

// orderKeys puts the key a node should encrypt with first: the managers'
// primary generation, or the oldest key if none is (a state from before
// two-phase rotation). keys come from the store, newest first.
func orderKeys(keys []store.Key, primary uint64) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	first := len(keys) - 1
	for i, k := range keys {
		if k.Generation == primary {
			first = i
			break
		}
	}
	out := [][]byte{keys[first].Key}
	for i, k := range keys {
		if i != first {
			out = append(out, k.Key)
		}
	}
	return out
}

func sameKeys(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// followGossipKeys installs the managers' gossip keys, the primary first,
// tells the managers which it holds, and reports whether they changed
// (and are to be saved). Called from the node's goroutine only.
func (n *Node) followGossipKeys(st *store.State) bool {
	want := orderKeys(st.GossipKeys, st.GossipPrimary)
	if len(want) == 0 {
		return false
	}
	changed := !sameKeys(want, n.GossipKeys())
	if changed {
		if err := n.agent.SetKeys(want); err != nil {
			n.log.Warn("gossip keys not installed", "err", err)
			return false
		}
		n.mu.Lock()
		n.info.GossipKeys = want
		n.mu.Unlock()
		n.log.Info("gossip keys updated", "generations", len(want), "newest", st.GossipKeys[0].Generation, "primary", st.GossipPrimary)
	}
	n.reportGossipKeys(st)
	return changed
}

// reportGossipKeys tells the managers that this node holds the newest
// gossip key, unless their state says so already: the leader makes a key
// the primary only once every live member has.
func (n *Node) reportGossipKeys(st *store.State) {
	self, ok := st.Nodes[n.nodeID]
	newest := st.GossipKeys[0].Generation
	if !ok || self.GossipKeyGen >= newest {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, pollTimeout)
	defer cancel()
	if err := n.Apply(ctx, store.Command{Op: store.OpGossipKeyHeld, NodeID: n.nodeID, Generation: newest}, nil); err != nil {
		n.log.Warn("gossip key held not reported; retried next poll", "generation", newest, "err", err)
	}
}

// rotateGossipKey is the leader's side of a gossip key rotation, in two
// phases: it adds a new key once the newest is the primary and older than
// the rotation period, and it makes the newest key the primary once every
// live member holds it. Until then every node encrypts with the old key
// and decrypts with both, so no clock, skewed or not, and no missed poll
// cuts a member off.
func (n *Node) rotateGossipKey(st *store.State) {
	if !n.leads() || len(st.GossipKeys) == 0 {
		return
	}
	newest := st.GossipKeys[0]
	if newest.Generation != st.GossipPrimary && st.GossipPrimary != 0 {
		if n.heldByEveryLiveMember(st, newest.Generation) {
			n.applyKeyChange(store.Command{Op: store.OpSetGossipPrimary, Generation: newest.Generation}, "gossip key made primary")
		}
		return
	}
	if n.cfg.GossipKeyRotation <= 0 || time.Since(newest.Created) < n.cfg.GossipKeyRotation {
		return
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	n.applyKeyChange(store.Command{Op: store.OpAddGossipKey, Key: &store.Key{Key: key, Created: time.Now().UTC()}}, "gossip key added")
}

// heldByEveryLiveMember reports whether every node that gossip sees alive
// or suspect has reported holding gossip key generation gen. A dead node
// is not waited for: it fetches the keys from the managers when it is back.
func (n *Node) heldByEveryLiveMember(st *store.State, gen uint64) bool {
	for _, m := range n.agent.Members() {
		if m.State != gossip.StateAlive && m.State != gossip.StateSuspect {
			continue
		}
		if o, ok := st.Nodes[m.ID]; ok && o.GossipKeyGen < gen {
			return false
		}
	}
	return true
}

// applyKeyChange applies a key command of the leader's and logs it.
func (n *Node) applyKeyChange(c store.Command, done string) {
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	if err := n.Apply(ctx, c, nil); err != nil {
		n.log.Warn("gossip key not rotated", "op", c.Op, "err", err)
		return
	}
	n.log.Info(done, "generation", c.Generation)
}

// rotateDataKeys adds a key to every encrypted network whose newest key is
// older than the rotation period, when this node is the leader.
func (n *Node) rotateDataKeys() {
	if !n.leads() || n.cfg.DataKeyRotation <= 0 {
		return
	}
	for _, nw := range n.manager.replica().Networks {
		if !nw.Encrypted || len(nw.Keys) > 0 && time.Since(nw.Keys[0].Created) < n.cfg.DataKeyRotation {
			continue
		}
		k := NewNetworkKey()
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		err := n.Apply(ctx, store.Command{Op: store.OpAddNetworkKey, NetworkID: nw.ID, Key: &k}, nil)
		cancel()
		if err != nil {
			n.log.Warn("data key not rotated", "network", nw.Name, "err", err)
			continue
		}
		n.log.Info("data key rotated", "network", nw.Name)
	}
}

// leads reports whether this node is the raft leader.
func (n *Node) leads() bool { return n.store != nil && n.store.IsLeader() }
