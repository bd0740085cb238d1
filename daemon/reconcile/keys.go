package reconcile

import (
	"slices"

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
