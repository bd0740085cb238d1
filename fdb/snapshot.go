package fdb

import (
	"hash/maphash"
	"iter"
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

// Sharding. The rows are spread by a seeded hash of their key over shards,
// each an immutable map behind an atomic pointer, so that a writer copies
// one shard, not the table: adding a row costs O(shardRows), whatever the
// size of the table. The shards double in number when they hold maxLoad rows
// on average, which moves every row once per doubling: O(1) amortised per
// row. The seed is secret, so that a sender cannot choose keys that all land
// in one shard.
const (
	maxLoad   = 8 // rows per shard, on average, before the shards double
	minShards = 16
)

// shards is one generation of a snapshotMap's shards: a lookup reads the
// generation current when it starts. Writers change one row by replacing
// one shard of the current generation, and change several at once (or the
// number of shards) by publishing a new generation.
type shards[K key, V comparable] struct {
	seed  maphash.Seed
	slots []atomic.Pointer[map[K]*entry[V]] // len is a power of two
}

func newShards[K key, V comparable](seed maphash.Seed, n int) *shards[K, V] {
	return &shards[K, V]{seed: seed, slots: make([]atomic.Pointer[map[K]*entry[V]], n)}
}

// index returns the slot of k.
func (d *shards[K, V]) index(k K) int {
	return int(maphash.Comparable(d.seed, k) & uint64(len(d.slots)-1))
}

// shard returns the map of slot i; nil (which reads as empty) if it has none.
func (d *shards[K, V]) shard(i int) map[K]*entry[V] {
	if p := d.slots[i].Load(); p != nil {
		return *p
	}
	return nil
}

func (d *shards[K, V]) get(k K) (*entry[V], bool) {
	e, ok := d.shard(d.index(k))[k]
	return e, ok
}

// all yields every row of d; rows written while it runs may or may not be
// seen.
func (d *shards[K, V]) all() iter.Seq2[K, *entry[V]] {
	return func(yield func(K, *entry[V]) bool) {
		for i := range d.slots {
			for k, e := range d.shard(i) {
				if !yield(k, e) {
					return
				}
			}
		}
	}
}

// len returns how many rows d holds.
func (d *shards[K, V]) len() int {
	n := 0
	for i := range d.slots {
		n += len(d.shard(i))
	}
	return n
}

// snapshotMap is a sharded copy-on-write map: readers load immutable maps
// without a lock; writers, serialized by mu, publish modified copies of the
// shards they change.
type snapshotMap[K key, V comparable] struct {
	mu      sync.Mutex
	p       atomic.Pointer[shards[K, V]]
	rows    int            // rows in *p; under mu
	learned map[uint32]int // learned rows by VNI, VNIs with none left out; under mu
}

func (s *snapshotMap[K, V]) init() {
	s.p.Store(newShards[K, V](maphash.MakeSeed(), minShards))
	s.learned = map[uint32]int{}
}

func (s *snapshotMap[K, V]) load() *shards[K, V] { return s.p.Load() }

func (s *snapshotMap[K, V]) lookup(k K) (V, bool) {
	e, ok := s.load().get(k)
	if !ok {
		var zero V
		return zero, false
	}
	return e.val, true
}

// settled reports whether learning v for k at seen needs no new entry, and
// refreshes the existing one if so.
func settled[K key, V comparable](d *shards[K, V], k K, v V, seen int64) bool {
	e, ok := d.get(k)
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

// learn records v for k at seen, unless k is new and its VNI already holds
// limit learned rows (limit 0: no limit); it reports whether it refused so.
func (s *snapshotMap[K, V]) learn(k K, v V, seen int64, limit int) (full bool) {
	if settled(s.load(), k, v, seen) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.load()
	if settled(d, k, v, seen) {
		return false // another writer got here first
	}
	if _, known := d.get(k); !known && limit > 0 && s.learned[k.vniOf()] >= limit {
		return true
	}
	e := &entry[V]{val: v}
	e.seen.Store(seen)
	s.setLocked(k, e)
	return false
}

func (s *snapshotMap[K, V]) addStatic(k K, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.load().get(k); ok && e.static && e.val == v {
		return
	}
	s.setLocked(k, &entry[V]{val: v, static: true})
}

func (s *snapshotMap[K, V]) delete(k K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.load().get(k); !ok {
		return false
	}
	s.setLocked(k, nil)
	return true
}

// setLocked sets k to e, or deletes it if e is nil, by replacing k's shard
// in place; then doubles the shards if they are full. s.mu must be held.
func (s *snapshotMap[K, V]) setLocked(k K, e *entry[V]) {
	d := s.load()
	i := d.index(k)
	n := maps.Clone(d.shard(i))
	if n == nil {
		n = map[K]*entry[V]{}
	}
	s.put(n, k, e)
	d.slots[i].Store(&n)
	if s.rows > maxLoad*len(d.slots) {
		s.p.Store(s.reshard(d, 2*len(d.slots)))
	}
}

// put sets k to e in m, or deletes it if e is nil, and counts the change.
// s.mu must be held.
func (s *snapshotMap[K, V]) put(m map[K]*entry[V], k K, e *entry[V]) {
	if old, ok := m[k]; ok {
		s.count(k, old, -1)
		delete(m, k)
	}
	if e != nil {
		s.count(k, e, +1)
		m[k] = e
	}
}

// count adds by to the row counts that e, the row of k, is part of.
func (s *snapshotMap[K, V]) count(k K, e *entry[V], by int) {
	s.rows += by
	if e.static {
		return
	}
	vni := k.vniOf()
	if s.learned[vni] += by; s.learned[vni] == 0 {
		delete(s.learned, vni)
	}
}

// reshard returns a new generation of n shards holding d's rows.
func (s *snapshotMap[K, V]) reshard(d *shards[K, V], n int) *shards[K, V] {
	next := newShards[K, V](d.seed, n)
	ms := make([]map[K]*entry[V], n)
	for k, e := range d.all() {
		i := next.index(k)
		if ms[i] == nil {
			ms[i] = make(map[K]*entry[V], maxLoad)
		}
		ms[i][k] = e
	}
	for i := range ms {
		if ms[i] != nil {
			next.slots[i].Store(&ms[i])
		}
	}
	return next
}

// applyLocked publishes, as one new generation, d's rows with every key of
// edits set to its entry, or deleted where the entry is nil: a reader sees
// all of the edits or none. Each shard touched is copied once; nothing is
// published when edits is empty. The shards are resized if the rows left
// are far from their load. s.mu must be held.
func (s *snapshotMap[K, V]) applyLocked(edits map[K]*entry[V]) {
	if len(edits) == 0 {
		return
	}
	d := s.load()
	next := newShards[K, V](d.seed, len(d.slots))
	copied := map[int]map[K]*entry[V]{}
	for k, e := range edits {
		i := d.index(k)
		m, ok := copied[i]
		if !ok {
			m = maps.Clone(d.shard(i))
			if m == nil {
				m = map[K]*entry[V]{}
			}
			copied[i] = m
		}
		s.put(m, k, e)
	}
	for i := range d.slots {
		if m, ok := copied[i]; ok {
			next.slots[i].Store(&m)
		} else {
			next.slots[i].Store(d.slots[i].Load())
		}
	}
	if size := shardsFor(s.rows); size > len(d.slots) || 4*size < len(d.slots) {
		next = s.reshard(next, size)
	}
	s.p.Store(next)
}

// shardsFor returns how many shards suit rows: a power of two, at least
// minShards, with at most maxLoad rows per shard on average.
func shardsFor(rows int) int {
	n := minShards
	for n*maxLoad < rows {
		n *= 2
	}
	return n
}

// deleteFunc publishes the map without the rows for which drop returns
// true and returns how many it dropped. drop is called once per row;
// nothing is copied when no row matches.
func (s *snapshotMap[K, V]) deleteFunc(drop func(K, *entry[V]) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	doomed := map[K]*entry[V]{}
	for k, e := range s.load().all() {
		if drop(k, e) {
			doomed[k] = nil
		}
	}
	s.applyLocked(doomed)
	return len(doomed)
}

// replaceStatic makes the static rows of vni exactly want, publishing at
// most one new generation of the map: static rows of vni missing from want
// are dropped, rows of want are set static (replacing a learned row with
// the same key), and every other row is kept. It returns the keys of want
// that had no row before or whose row held another value.
func (s *snapshotMap[K, V]) replaceStatic(vni uint32, want map[K]V) (changed []K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.load()
	edits := map[K]*entry[V]{}
	for k, e := range d.all() {
		if _, keep := want[k]; !keep && e.static && k.vniOf() == vni {
			edits[k] = nil
		}
	}
	for k, v := range want {
		e, ok := d.get(k)
		if !ok || e.val != v {
			changed = append(changed, k)
		}
		if !ok || !e.static || e.val != v {
			edits[k] = &entry[V]{val: v, static: true}
		}
	}
	s.applyLocked(edits)
	return changed
}
