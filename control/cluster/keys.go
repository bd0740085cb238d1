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
// gossip key and encrypts with the primary, unless their state says so
// already: the leader makes a key the primary only once every live member
// holds it, and retires keys only once every live member encrypts with a
// newer one.
func (n *Node) reportGossipKeys(st *store.State) {
	self, ok := st.Nodes[n.nodeID]
	newest := st.GossipKeys[0].Generation
	if !ok || self.GossipKeyGen >= newest && self.GossipPrimaryGen >= st.GossipPrimary {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, pollTimeout)
	defer cancel()
	held := store.Command{Op: store.OpGossipKeyHeld, NodeID: n.nodeID, Generation: newest, Primary: st.GossipPrimary}
	if err := n.Apply(ctx, held, nil); err != nil {
		n.log.Warn("gossip key held not reported; retried next poll", "generation", newest, "err", err)
	}
}

// rotateGossipKey is the leader's side of a gossip key rotation, in two
// phases: it adds a new key once the newest is the primary and older than
// the rotation period, and it makes the newest key the primary once every
// live member holds it. Until then every node encrypts with the old key
// and decrypts with both, so no clock, skewed or not, and no missed poll
// cuts a member off. When a node left or was removed it adds a key at
// once (a rekey), and once every live member encrypts with that key it
// retires the older ones, which the node held.
func (n *Node) rotateGossipKey(st *store.State) {
	if !n.leads() || len(st.GossipKeys) == 0 {
		return
	}
	newest := st.GossipKeys[0]
	switch {
	case st.GossipRekey:
		n.addGossipKey("gossip key added: a node left or was removed")
	case newest.Generation != st.GossipPrimary && st.GossipPrimary != 0:
		if n.everyLiveMember(st, func(o *store.Node) bool { return o.GossipKeyGen >= newest.Generation }) {
			n.applyKeyChange(store.Command{Op: store.OpSetGossipPrimary, Generation: newest.Generation}, "gossip key made primary")
		}
	case st.GossipRetireBelow != 0 && st.GossipPrimary >= st.GossipRetireBelow:
		below := st.GossipRetireBelow
		if n.everyLiveMember(st, func(o *store.Node) bool { return o.GossipPrimaryGen >= below }) {
			n.applyKeyChange(store.Command{Op: store.OpRetireGossipKeys, Generation: below}, "gossip keys retired")
		}
	case n.cfg.GossipKeyRotation > 0 && time.Since(newest.Created) >= n.cfg.GossipKeyRotation:
		n.addGossipKey("gossip key added")
	}
}

// addGossipKey issues a new gossip key.
func (n *Node) addGossipKey(why string) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	n.applyKeyChange(store.Command{Op: store.OpAddGossipKey, Key: &store.Key{Key: key, Created: time.Now().UTC()}}, why)
}

// everyLiveMember reports whether ok holds for the record of every member
// of the cluster that gossip sees alive or suspect. A dead node is not
// waited for: it fetches the keys from the managers when it is back; a
// node that is no member (removed) is not asked.
func (n *Node) everyLiveMember(st *store.State, ok func(*store.Node) bool) bool {
	for _, m := range n.agent.Members() {
		if m.State != gossip.StateAlive && m.State != gossip.StateSuspect {
			continue
		}
		if o, member := st.Nodes[m.ID]; member && !ok(o) {
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
