package resolver

// Forward slots. Each Instance, that is each container, may have
// maxForwards forwards in flight. The first reservedForwards of them are
// its own; the rest it borrows from its Resolver's pool of poolForwards
// slots, shared by every Instance. A container asking for names whose
// servers never answer so holds at most maxForwards slots, every other
// container keeps at least reservedForwards whatever the others do, and
// the host has at most reservedForwards per container plus poolForwards
// forwards (each a socket) in flight.
const (
	maxForwards      = 256  // per container: what the whole host once shared
	reservedForwards = 32   // of those, the slots no other container can take
	poolForwards     = 1024 // shared beyond the reserved ones: four containers' worth of borrowing
)

// slot is what a forward in flight holds.
type slot uint8

// The slots take returns.
const (
	noSlot   slot = iota // none free: the forward is refused
	ownSlot              // one of the Instance's reserved slots
	poolSlot             // one borrowed from the shared pool
)

// quota is the forward slots of one Instance. Its methods are safe for
// concurrent use and never wait.
type quota struct {
	own      chan struct{} // a token per reserved slot in use
	borrowed chan struct{} // a token per pool slot this Instance holds, as many as it may borrow
	pool     chan struct{} // the shared pool: a token per slot in use by any Instance
}

// newQuota returns the forward slots of a new Instance: maxForwards, of
// which reservedForwards are its own and the rest come from r's pool.
func (r *Resolver) newQuota() *quota { return newQuota(reservedForwards, maxForwards, r.pool) }

// newQuota returns the slots of an Instance that has reserved of its own
// and may hold most in all, borrowing from pool.
func newQuota(reserved, most int, pool chan struct{}) *quota {
	return &quota{
		own:      make(chan struct{}, reserved),
		borrowed: make(chan struct{}, most-reserved),
		pool:     pool,
	}
}

// take returns a free slot: a reserved one if there is one, else one
// from the pool if the Instance may borrow more and the pool has one,
// else noSlot.
func (q *quota) take() slot {
	if tryPut(q.own) {
		return ownSlot
	}
	if !tryPut(q.borrowed) {
		return noSlot
	}
	if !tryPut(q.pool) {
		<-q.borrowed
		return noSlot
	}
	return poolSlot
}

// give returns s, which take returned.
func (q *quota) give(s slot) {
	switch s {
	case ownSlot:
		<-q.own
	case poolSlot:
		<-q.pool
		<-q.borrowed
	}
}

// tryPut puts a token in sem if there is room, and reports whether it did.
func tryPut(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
		return false
	}
}
