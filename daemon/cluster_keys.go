package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"time"

	"github.com/weftnet/weft/control/store"
)

// keyGrace is how long a new gossip key is only installed (it decrypts)
// before nodes make it their primary (it encrypts). Every node polls the
// managers' keys every 5 s, so after this long every node can decrypt what
// a node that switched sends.
//
// The store keeps three generations, so a key is dropped two rotations after
// its successor appears; every node must have moved to the successor by
// then: keyGrace + the 5 s poll < 2 × the rotation period. MinKeyRotation
// keeps that true.
const keyGrace = 8 * time.Second

// MinKeyRotation is the shortest gossip key rotation period weftd accepts.
const MinKeyRotation = 10 * time.Second

// orderKeys puts the key a node should encrypt with first: the newest key
// that has been in the store longer than keyGrace, or the oldest if none
// has. keys come from the store, newest first.
func orderKeys(keys []store.Key, now time.Time) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	primary := len(keys) - 1
	for i, k := range keys {
		if now.Sub(k.Created) >= keyGrace {
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

// syncKeys installs the managers' gossip keys on this node in the order
// orderKeys gives, and remembers them for a restart.
func (d *Daemon) syncKeys(c *clusterNode, st *store.State) {
	want := orderKeys(st.GossipKeys, time.Now())
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c || len(want) == 0 || sameKeys(want, c.info.GossipKeys) {
		return
	}
	if err := c.agent.SetKeys(want); err != nil {
		d.log.Warn("gossip keys not installed", "err", err)
		return
	}
	c.info.GossipKeys = want
	if err := d.saveCluster(c.info, clusterFiles{}); err != nil {
		d.log.Warn("gossip keys not saved", "err", err)
	}
	d.log.Info("gossip keys updated", "generations", len(want), "newest", st.GossipKeys[0].Generation)
}

// rotateKey adds a new gossip key when this node is the leader and the
// newest key is older than the rotation period.
func (d *Daemon) rotateKey(c *clusterNode, st *store.State) {
	if c.store == nil || !c.store.IsLeader() || d.cfg.GossipKeyRotation <= 0 || len(st.GossipKeys) == 0 {
		return
	}
	if time.Since(st.GossipKeys[0].Created) < d.cfg.GossipKeyRotation {
		return
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.apply(ctx, store.Command{Op: store.OpAddGossipKey, Key: &store.Key{Key: key, Created: time.Now().UTC()}}, nil); err != nil {
		d.log.Warn("gossip key not rotated", "err", err)
		return
	}
	d.log.Info("gossip key rotated")
}
