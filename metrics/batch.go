package metrics

import (
	"math/bits"
	"sync/atomic"
)

// Direction is which batched call a batch size was observed on. Its String
// is the Prometheus label value.
type Direction uint8

// Batched calls of the data plane.
const (
	// TapRead: frames one read from a TAP device returned.
	TapRead Direction = iota
	// UDPRead: datagrams one read from the underlay socket returned.
	UDPRead
	// UDPWrite: datagrams handed to the underlay socket in one write.
	UDPWrite
	numDirections
)

var directionNames = [numDirections]string{"tap_read", "udp_read", "udp_write"}

// String returns the direction as a Prometheus label value.
func (d Direction) String() string {
	if d < numDirections {
		return directionNames[d]
	}
	return "unknown"
}

// batchBounds are the upper bounds of the batch size histogram's buckets:
// powers of two, so that a size's bucket is found from its bit length.
var batchBounds = [...]float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// BatchSizes is a histogram of how many frames or datagrams each batched
// call moved, by direction. It keeps plain atomic bucket counters, so
// Observe takes no lock and never allocates; the collector exports them as
// a Prometheus histogram at scrape time. The zero BatchSizes is empty. All
// methods are safe for concurrent use.
type BatchSizes struct {
	h [numDirections]batchHistogram
}

type batchHistogram struct {
	buckets [len(batchBounds) + 1]atomic.Uint64 // not cumulative; the last is +Inf
	sum     atomic.Uint64
}

// Observe records one call of direction d that moved n frames or
// datagrams. Calls that moved nothing are not recorded.
func (s *BatchSizes) Observe(d Direction, n int) {
	if n <= 0 || d >= numDirections {
		return
	}
	i := min(bits.Len(uint(n-1)), len(batchBounds)) // n ≤ 2^i
	s.h[d].buckets[i].Add(1)
	s.h[d].sum.Add(uint64(n))
}

// snapshot returns the histogram of d as Prometheus wants it: the count,
// the sum, and the cumulative count of each bucket by upper bound.
func (s *BatchSizes) snapshot(d Direction) (count, sum uint64, buckets map[float64]uint64) {
	h := &s.h[d]
	buckets = make(map[float64]uint64, len(batchBounds))
	for i, le := range batchBounds {
		count += h.buckets[i].Load()
		buckets[le] = count
	}
	count += h.buckets[len(batchBounds)].Load()
	return count, h.sum.Load(), buckets
}
