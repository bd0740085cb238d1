package fdb

import (
	"maps"
	"sync"
	"sync/atomic"
)

// key is a map key that belongs to one VNI.
type key interface {
	comparable
	vniOf() uint32
}

// entry is one row of a snapshot. val and static never change once the entry
// is published; a new value means a new entry. seen is the last time the row
// was learned, in nanoseconds since Table.epoch, and is unused for static rows.
type entry[V comparable] struct {
	val    V
	static bool
	seen   atomic.Int64
}

// refresh moves e's last-seen time forward to seen. It never moves it back,
// and skips the store (and the cache-line write) when there is nothing to do.
func (e *entry[V]) refresh(seen int64) {
	if seen > e.seen.Load() {
		e.seen.Store(seen)
	}
}

// snapshotMap is a copy-on-write map: readers load an immutable map without a
// lock; writers, serialized by mu, publish a modified copy.
type snapshotMap[K key, V comparable] struct {
	mu sync.Mutex
	p  atomic.Pointer[map[K]*entry[V]]
}

func (s *snapshotMap[K, V]) init() {
	m := make(map[K]*entry[V])
	s.p.Store(&m)
}

func (s *snapshotMap[K, V]) load() map[K]*entry[V] { return *s.p.Load() }

func (s *snapshotMap[K, V]) lookup(k K) (V, bool) {
	e, ok := s.load()[k]
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// settled reports whether learning v for k at seen needs no new entry, and
// refreshes the existing one if so.
func settled[K key, V comparable](m map[K]*entry[V], k K, v V, seen int64) bool {
	e, ok := m[k]
	switch {
	case !ok:
		return false
	case e.static:
		return true
	case e.val == v:
		e.refresh(seen)
		return true
	}
	return false
}

func (s *snapshotMap[K, V]) learn(k K, v V, seen int64) {
	if settled(s.load(), k, v, seen) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	if settled(m, k, v, seen) {
		return // another writer got here first
	}
	e := &entry[V]{val: v}
	e.seen.Store(seen)
	s.publishWith(m, k, e)
}

func (s *snapshotMap[K, V]) addStatic(k K, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	if e, ok := m[k]; ok && e.static && e.val == v {
		return
	}
	s.publishWith(m, k, &entry[V]{val: v, static: true})
}

// publishWith publishes a copy of m with k set to e. s.mu must be held.
func (s *snapshotMap[K, V]) publishWith(m map[K]*entry[V], k K, e *entry[V]) {
	n := maps.Clone(m)
	n[k] = e
	s.p.Store(&n)
}

func (s *snapshotMap[K, V]) delete(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	if _, ok := m[k]; !ok {
		return false
	}
	n := maps.Clone(m)
	delete(n, k)
	s.p.Store(&n)
	return true
}

// deleteFunc publishes a copy of the map without the rows for which drop
// returns true and returns how many it dropped. drop is called once per row;
// nothing is copied when no row matches.
func (s *snapshotMap[K, V]) deleteFunc(drop func(K, *entry[V]) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	var doomed []K
	for k, e := range m {
		if drop(k, e) {
			doomed = append(doomed, k)
		}
	}
	if len(doomed) == 0 {
		return 0
	}
	n := maps.Clone(m)
	for _, k := range doomed {
		delete(n, k)
	}
	s.p.Store(&n)
	return len(doomed)
}

// replaceStatic makes the static rows of vni exactly want, publishing at
// most one copy of the map: static rows of vni missing from want are
// dropped, rows of want are set static (replacing a learned row with the
// same key), and every other row is kept. It returns the keys of want that
// had no row before or whose row held another value.
func (s *snapshotMap[K, V]) replaceStatic(vni uint32, want map[K]V) (changed []K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	var drop []K
	for k, e := range m {
		if _, keep := want[k]; !keep && e.static && k.vniOf() == vni {
			drop = append(drop, k)
		}
	}
	var set []K
	for k, v := range want {
		e, ok := m[k]
		if !ok || e.val != v {
			changed = append(changed, k)
		}
		if !ok || !e.static || e.val != v {
			set = append(set, k)
		}
	}
	if len(drop) == 0 && len(set) == 0 {
		return changed
	}
	n := maps.Clone(m)
	for _, k := range drop {
		delete(n, k)
	}
	for _, k := range set {
		n[k] = &entry[V]{val: want[k], static: true}
	}
	s.p.Store(&n)
	return changed
}
