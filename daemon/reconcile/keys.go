package reconcile

import (
	"context"
	"slices"
	"time"

	"github.com/weftnet/weft/control/store"
)

// SetKeys gives an encrypted network's data keys, newest first, as the
// managers hold them, and schedules the network if they are newer than
// those held. A list older than the one held (from a manager that lags) is
// ignored: keys never go back. Keys of a network that is not tracked are
// ignored. It reports whether the keys were taken.
func (r *Reconciler) SetKeys(id string, keys []store.Key) bool {
	r.mu.Lock()
	n := r.nets[id]
	taken := n != nil && n.Encrypted && newerKeys(r.keys[id], keys)
	if taken {
		r.keys[id] = slices.Clone(keys)
	}
	r.mu.Unlock()
	if taken {
		r.Schedule(id)
	}
	return taken
}

// Keys returns the data keys held for a network, newest first.
func (r *Reconciler) Keys(id string) []store.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys[id])
}

// KeyGen returns the newest data key generation this node opens on a
// network, which its endpoint records say (gossip.Record.KeyGen): 0 until
// the SAs of a generation are installed.
func (r *Reconciler) KeyGen(id string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.advertised[id]
}

// keyLoop fetches the managers' data keys every KeyPoll while an
// encrypted network is tracked, until Close.
func (r *Reconciler) keyLoop() {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.KeyPoll)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			r.followKeys()
		}
	}
}

// followKeys fetches the managers' state, with no lock held, and takes
// the keys of every encrypted network tracked.
func (r *Reconciler) followKeys() {
	ids := r.encrypted()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.cfg.KeyPoll)
	st, err := r.cfg.State(ctx)
	cancel()
	if err != nil {
		r.cfg.Log.Debug("data keys not fetched", "err", err)
		return
	}
	for _, id := range ids {
		if n, ok := st.Networks[id]; ok && r.SetKeys(id, n.Keys) {
			r.cfg.Log.Info("data keys updated", "network", n.Name, "newest", n.Keys[0].Generation, "generations", len(n.Keys))
		}
	}
}

// encrypted returns the IDs of the encrypted networks tracked.
func (r *Reconciler) encrypted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, n := range r.nets {
		if n.Encrypted {
			ids = append(ids, id)
		}
	}
	return ids
}

// newerKeys reports whether fetched keys should replace those held: they
// differ, and their newest generation is not older.
func newerKeys(held, fetched []store.Key) bool {
	switch {
	case len(fetched) == 0:
		return false
	case len(held) == 0:
		return true
	}
	same := slices.EqualFunc(held, fetched, func(x, y store.Key) bool { return x.Generation == y.Generation })
	return !same && fetched[0].Generation >= held[0].Generation
}

// newestGen returns the newest generation of keys, 0 if none.
func newestGen(keys []store.Key) uint64 {
	if len(keys) > 0 {
		return keys[0].Generation
	}
	return 0
}
