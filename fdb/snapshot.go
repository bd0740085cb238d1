package fdb

import (
	"iter"
	"sync"
	"sync/atomic"
)

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
// each a small immutable hash table behind an atomic pointer, so that a
// writer copies one shard, not the table: adding a row costs O(shardRows),
// whatever the size of the table. The shards double in number when they
// hold maxLoad rows on average, which moves every row once per doubling:
// O(1) amortised per row. A lookup hashes its key once: the low bits of the
// hash pick the shard, the high bits the first place to look in it. The
// seed is secret, so that a sender cannot choose keys that all land in one
// shard.
const (
	maxLoad   = 4 // rows per shard, on average, before the shards double
	minShards = 16
)

// key is a map key that belongs to one VNI.
type key interface {
	comparable
	vniOf() uint32
	hash(s *hashSeed) uint64
}

// row is one key of a shard and its entry.
type row[K key, V comparable] struct {
	k K
	e *entry[V]
}

// shard is the rows of one slot in an open-addressed table with linear
// probing, at most three quarters full, so that most lookups look at one
// or two places. A published shard never changes: writers build a new one
// from its rows.
type shard[K key, V comparable] struct {
	table []row[K, V] // len is a power of two; e is nil in a free place
	n     int         // rows held
}

// newShard returns a shard holding rows, whose keys are distinct; nil if
// there are none.
func newShard[K key, V comparable](seed *hashSeed, rows []row[K, V]) *shard[K, V] {
	if len(rows) == 0 {
		return nil
	}
	size := 2
	for 3*size < 4*len(rows) {
		size *= 2
	}
	sh := &shard[K, V]{table: make([]row[K, V], size), n: len(rows)}
	for _, r := range rows {
		sh.table[sh.free(r.k.hash(seed))] = r
	}
	return sh
}

// home returns where a key whose hash is h is looked for first.
func (sh *shard[K, V]) home(h uint64) int {
	return int(h>>32) & (len(sh.table) - 1)
}

// free returns the first free place of sh at or after the home of h. There
// is one: sh is at most three quarters full.
func (sh *shard[K, V]) free(h uint64) int {
	mask := len(sh.table) - 1
	i := sh.home(h)
	for range sh.table {
		if sh.table[i].e == nil {
			break
		}
		i = (i + 1) & mask
	}
	return i
}

// find returns the entry of k, whose hash is h, in sh; nil if it has none.
func (sh *shard[K, V]) find(k K, h uint64) *entry[V] {
	mask := len(sh.table) - 1
	i := sh.home(h)
	for range sh.table {
		r := &sh.table[i]
		if r.e == nil || r.k == k {
			return r.e
		}
		i = (i + 1) & mask
	}
	return nil
}

// appendRows appends the rows of sh to dst and returns the result.
func (sh *shard[K, V]) appendRows(dst []row[K, V]) []row[K, V] {
	if sh == nil {
		return dst
	}
	for _, r := range sh.table {
		if r.e != nil {
			dst = append(dst, r)
		}
	}
	return dst
}

// shards is one generation of a snapshotMap's shards: a lookup reads the
// generation current when it starts. Writers change one row by replacing
// one shard of the current generation, and change several at once (or the
// number of shards) by publishing a new generation.
type shards[K key, V comparable] struct {
	seed  *hashSeed
	slots []atomic.Pointer[shard[K, V]] // len is a power of two; nil reads as empty
}

func newShards[K key, V comparable](seed *hashSeed, n int) *shards[K, V] {
	return &shards[K, V]{seed: seed, slots: make([]atomic.Pointer[shard[K, V]], n)}
}

// index returns the slot of a key whose hash is h.
func (d *shards[K, V]) index(h uint64) int {
	return int(h & uint64(len(d.slots)-1))
}

// indexOf returns the slot of k.
func (d *shards[K, V]) indexOf(k K) int { return d.index(k.hash(d.seed)) }

func (d *shards[K, V]) get(k K) (*entry[V], bool) {
	h := k.hash(d.seed)
	sh := d.slots[d.index(h)].Load()
	if sh == nil {
		return nil, false
	}
	e := sh.find(k, h)
	return e, e != nil
}

// all yields every row of d; rows written while it runs may or may not be
// seen.
func (d *shards[K, V]) all() iter.Seq2[K, *entry[V]] {
	return func(yield func(K, *entry[V]) bool) {
		for i := range d.slots {
			sh := d.slots[i].Load()
			if sh == nil {
				continue
			}
			for _, r := range sh.table {
				if r.e != nil && !yield(r.k, r.e) {
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
		if sh := d.slots[i].Load(); sh != nil {
			n += sh.n
		}
	}
	return n
}

// snapshotMap is a sharded copy-on-write map: readers load immutable shards
// without a lock; writers, serialized by mu, publish modified copies of the
// shards they change.
type snapshotMap[K key, V comparable] struct {
	mu      sync.Mutex
	p       atomic.Pointer[shards[K, V]]
	rows    int            // rows in *p; under mu
	learned map[uint32]int // learned rows by VNI, VNIs with none left out; under mu
	scratch []row[K, V]    // the rows of a shard being rebuilt; under mu
	seed    hashSeed       // of every generation's hash
}

func (s *snapshotMap[K, V]) init() {
	s.seed = newHashSeed()
	s.p.Store(newShards[K, V](&s.seed, minShards))
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
	i := d.indexOf(k)
	s.scratch = s.put(d.slots[i].Load().appendRows(s.scratch[:0]), k, e)
	d.slots[i].Store(newShard(d.seed, s.scratch))
	if s.rows > maxLoad*len(d.slots) {
		s.p.Store(s.reshard(d, 2*len(d.slots)))
	}
}

// put sets k to e in rows, an unpublished copy, or deletes it if e is nil,
// counts the change, and returns the rows. s.mu must be held.
func (s *snapshotMap[K, V]) put(rows []row[K, V], k K, e *entry[V]) []row[K, V] {
	for i := range rows {
		if rows[i].k != k {
			continue
		}
		s.count(k, rows[i].e, -1)
		last := len(rows) - 1
		rows[i] = rows[last]
		rows = rows[:last]
		break
	}
	if e != nil {
		s.count(k, e, +1)
		rows = append(rows, row[K, V]{k, e})
	}
	return rows
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
	for i, rows := range next.spread(d.all()) {
		next.slots[i].Store(newShard(d.seed, rows))
	}
	return next
}

// spread returns rows grouped by their slot in d, all in one array.
func (d *shards[K, V]) spread(rows iter.Seq2[K, *entry[V]]) [][]row[K, V] {
	var flat []row[K, V]
	var slot []int
	ends := make([]int, len(d.slots)) // counts, then where each slot's rows end
	for k, e := range rows {
		i := d.indexOf(k)
		flat, slot = append(flat, row[K, V]{k, e}), append(slot, i)
		ends[i]++
	}
	for i := 1; i < len(ends); i++ {
		ends[i] += ends[i-1]
	}
	grouped := make([]row[K, V], len(flat))
	for j := len(flat) - 1; j >= 0; j-- {
		ends[slot[j]]--
		grouped[ends[slot[j]]] = flat[j]
	}
	out := make([][]row[K, V], len(d.slots)) // ends now holds where each slot's rows start
	for i, start := range ends {
		end := len(grouped)
		if i+1 < len(ends) {
			end = ends[i+1]
		}
		out[i] = grouped[start:end:end]
	}
	return out
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
	copied := map[int][]row[K, V]{}
	for k, e := range edits {
		i := d.indexOf(k)
		rows, ok := copied[i]
		if !ok {
			rows = d.slots[i].Load().appendRows(nil)
		}
		copied[i] = s.put(rows, k, e)
	}
	for i := range d.slots {
		if rows, ok := copied[i]; ok {
			next.slots[i].Store(newShard(d.seed, rows))
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
