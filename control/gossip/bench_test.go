package gossip

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPropagation200 starts 200 agents on the in-memory network with
// DefaultConfig timings and encryption, joins them, then repeatedly
// publishes a new record on one of them and measures how long it takes
// until every agent's Handler has been told (RecordsChanged), reporting
// the 50th and 99th percentiles. ns/op is the same wait, averaged.
// ReportAllocs and SetBytes are left out: allocations would be those of
// 200 whole agents gossiping in the background, and there is no byte
// stream to speak of.
func BenchmarkPropagation200(b *testing.B) {
	const n = 200
	const maxWait = 10 * time.Second
	c := newTestCluster(b, nil)
	var cur atomic.Pointer[round]
	var downs atomic.Int64 // members reported dead or left: none should be
	agents := make([]*Agent, n)
	for i := range agents {
		agents[i] = c.startWith(fmt.Sprintf("n%03d", i), &roundHandler{idx: i, cur: &cur, downs: &downs})
		if i > 0 {
			seed := agents[rand.IntN(i)].cfg.NodeID
			if _, err := agents[i].Join([]string{c.addr(seed)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	waitFor(b, time.Minute, func() bool {
		for _, a := range agents {
			if countState(a, StateAlive) != n {
				return false
			}
		}
		return true
	}, "200 agents to see each other")
	b.Logf("200 agents converged %v after the last join", time.Since(start))

	var lat []time.Duration
	i := 0
	for b.Loop() {
		r := newRound(fmt.Sprintf("bench-%d", i), n)
		cur.Store(r)
		start := time.Now()
		agents[i%n].Publish(testRecord(r.network, r.network, i))
		select {
		case <-r.done:
		case <-time.After(maxWait):
			b.Fatalf("round %d: %d of %d agents still without the record after %v", i, r.remaining.Load(), n, maxWait)
		}
		lat = append(lat, time.Duration(r.last.Load()-start.UnixNano()))
		i++
	}
	b.Logf("latencies in publish order: %v", lat)
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	if d := downs.Load(); d > 0 {
		b.Logf("%d false member deaths reported under load", d)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[max(i, 1)-1]
}

// round is one propagation being measured: which agents have seen network.
type round struct {
	network   string
	seen      []atomic.Bool
	remaining atomic.Int32
	last      atomic.Int64 // UnixNano of the latest first sighting
	done      chan struct{}
}

func newRound(network string, n int) *round {
	r := &round{network: network, seen: make([]atomic.Bool, n), done: make(chan struct{})}
	r.remaining.Store(int32(n))
	return r
}

// roundHandler marks its agent in the current round when told about the
// round's network.
type roundHandler struct {
	idx   int
	cur   *atomic.Pointer[round]
	downs *atomic.Int64
}

func (h *roundHandler) RecordsChanged(network string) {
	r := h.cur.Load()
	if r == nil || r.network != network || !r.seen[h.idx].CompareAndSwap(false, true) {
		return
	}
	now := time.Now().UnixNano()
	for {
		old := r.last.Load()
		if now <= old || r.last.CompareAndSwap(old, now) {
			break
		}
	}
	if r.remaining.Add(-1) == 0 {
		close(r.done)
	}
}

func (h *roundHandler) MemberChanged(m Member) {
	if !m.State.up() {
		h.downs.Add(1)
	}
}
