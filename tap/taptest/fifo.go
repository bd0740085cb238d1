package taptest

// fifo is a queue of frames that reuses its backing array once drained.
type fifo struct {
	items [][]byte
	head  int
}

// len is the number of frames queued.
func (q *fifo) len() int { return len(q.items) - q.head }

// push queues f, first sliding the queue to the front of its array when
// dropped frames fill at least half of it, so a never-drained queue does not
// grow without bound.
func (q *fifo) push(f []byte) {
	if q.head > 0 && q.head >= len(q.items)/2 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, f)
}

// peek returns the i-th oldest frame; i must be below q.len().
func (q *fifo) peek(i int) []byte { return q.items[q.head+i] }

// drop removes the n oldest frames.
func (q *fifo) drop(n int) {
	clear(q.items[q.head : q.head+n])
	q.head += n
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}
