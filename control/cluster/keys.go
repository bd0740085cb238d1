package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"time"

	"github.com/weftnet/weft/control/store"
)

// orderKeys puts the key a node should encrypt with first: the newest key
// that has been in the store for grace or longer, or the oldest if none
// has. keys come from the store, newest first.
func orderKeys(keys []store.Key, now time.Time, grace time.Duration) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	primary := len(keys) - 1
	for i, k := range keys {
		if now.Sub(k.Created) >= grace {
			primary = i
			break
		}
	}
	out := [][]byte{keys[primary].Key}
	for i, k := range keys {
		if i != primary {
			out = append(out, k.Key)
		}
	}
	return out
}

func sameKeys(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// followGossipKeys installs the managers' gossip keys in the order
// orderKeys gives, and reports whether they changed (and are to be saved).
// Called from the node's goroutine only.
func (n *Node) followGossipKeys(st *store.State) bool {
	want := orderKeys(st.GossipKeys, time.Now(), n.cfg.KeyGrace)
	if len(want) == 0 || sameKeys(want, n.GossipKeys()) {
		return false
	}
	if err := n.agent.SetKeys(want); err != nil {
		n.log.Warn("gossip keys not installed", "err", err)
		return false
	}
	n.mu.Lock()
	n.info.GossipKeys = want
	n.mu.Unlock()
	n.log.Info("gossip keys updated", "generations", len(want), "newest", st.GossipKeys[0].Generation)
	return true
}

// rotateGossipKey adds a new gossip key when this node is the leader and
// the newest key is older than the rotation period.
func (n *Node) rotateGossipKey(st *store.State) {
	if !n.leads() || n.cfg.GossipKeyRotation <= 0 || len(st.GossipKeys) == 0 {
		return
	}
	if time.Since(st.GossipKeys[0].Created) < n.cfg.GossipKeyRotation {
		return
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
	defer cancel()
	if err := n.Apply(ctx, store.Command{Op: store.OpAddGossipKey, Key: &store.Key{Key: key, Created: time.Now().UTC()}}, nil); err != nil {
		n.log.Warn("gossip key not rotated", "err", err)
		return
	}
	n.log.Info("gossip key rotated")
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
