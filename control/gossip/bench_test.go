package gossip

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// BenchmarkPropagation200 starts 200 agents on the in-memory network with
// encryption and DefaultConfig's gossip timings, joins them, then repeatedly
// publishes a new record on one of them and measures how long it takes
// until every agent's Handler has been told (RecordsChanged), reporting
// the 50th and 99th percentiles. ns/op is the same wait, averaged.
//
// The failure detector runs at memberlist's LAN defaults instead of
// DefaultConfig's: 200 agents share this process's few CPUs, where 150 ms
// probe timeouts are missed and healthy agents get declared dead, which
// measures the scheduler rather than dissemination. Dissemination depends on
// GossipInterval, which stays at its default.
//
// ReportAllocs and SetBytes are left out: allocations would be those of
// 200 whole agents gossiping in the background, and there is no byte
// stream to speak of.
func BenchmarkPropagation200(b *testing.B) {
	const n = 200
	const maxWait = 10 * time.Second
	c := newTestCluster(b, func(cfg *Config) {
		cfg.ProbeInterval, cfg.ProbeTimeout, cfg.SuspicionMult = time.Second, 500*time.Millisecond, 4
	})
	c.networks = []string{benchNet}
	var cur atomic.Pointer[round]
	var downs atomic.Int64 // members reported dead or left: none should be
	agents := make([]*Agent, n)
	for i := range agents {
		h := &roundHandler{idx: i, cur: &cur, downs: &downs}
		agents[i] = c.startWith(fmt.Sprintf("n%03d", i), h)
		h.agent.Store(agents[i])
		if i > 0 {
			seed := agents[rand.IntN(i)].cfg.NodeID
			if _, err := agents[i].Join([]string{c.addr(seed)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	start := time.Now()
	converge(b, c, agents, time.Minute)
	b.Logf("200 agents converged %v after the last join", time.Since(start))
	poll.Until(b, time.Minute, "the join storm's broadcasts to drain", func() bool {
		return !slices.ContainsFunc(agents, queuesBroadcasts)
	})

	warm := propagate(b, agents, &cur, 0, maxWait)
	b.Logf("warm-up round (not counted): %v", warm)
	var lat []time.Duration
	for i := 1; b.Loop(); i++ {
		lat = append(lat, propagate(b, agents, &cur, i, maxWait))
	}
	b.Logf("latencies in publish order: %v", lat)
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.Logf("packets dropped by the in-memory network: %d", c.net.Dropped())
	if d := downs.Load(); d > 0 {
		b.Logf("%d member deaths reported (none were real)", d)
	}
}

// benchNet is the network every agent of the benchmark has.
const benchNet = "bench"

// propagate publishes a new record on agent i%n and returns how long it
// took until every agent's Handler was told.
func propagate(b *testing.B, agents []*Agent, cur *atomic.Pointer[round], i int, maxWait time.Duration) time.Duration {
	b.Helper()
	r := newRound(fmt.Sprintf("bench-%d", i), len(agents))
	cur.Store(r)
	start := time.Now()
	agents[i%len(agents)].Publish(testRecord(benchNet, r.endpoint, i))
	select {
	case <-r.done:
	case <-time.After(maxWait):
		b.Fatalf("round %d: %d of %d agents still without the record after %v", i, r.remaining.Load(), len(agents), maxWait)
	}
	return time.Duration(r.last.Load() - start.UnixNano())
}

// queuesBroadcasts reports whether a has broadcasts queued, of interests or
// of records, that it has not sent as often as it will.
func queuesBroadcasts(a *Agent) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.queue.NumQueued() > 0 {
		return true
	}
	for _, q := range a.nets {
		if q.queue.NumQueued() > 0 {
			return true
		}
	}
	return false
}

// converge waits until every agent sees all others alive and having
// benchNet. Each second, an agent still missing some does a push/pull with a
// random other (Join), as memberlist's own push/pull would after
// PushPullInterval (stretched to 40 s at 200 nodes): setup is not what is
// measured.
func converge(b *testing.B, c *testCluster, agents []*Agent, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lagging := 0
		for _, a := range agents {
			if countState(a, StateAlive) == len(agents) && len(a.Interested(benchNet)) == len(agents)-1 {
				continue
			}
			lagging++
			if _, err := a.Join([]string{c.addr(agents[rand.IntN(len(agents))].cfg.NodeID)}); err != nil {
				b.Logf("%s: %v", a.cfg.NodeID, err)
			}
		}
		if lagging == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d agents still miss members after %v", lagging, len(agents), timeout)
		}
		// Not a wait for the condition above but the period of the
		// push/pulls that bring it about, as memberlist's would.
		time.Sleep(time.Second)
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

// round is one propagation being measured: which agents have seen endpoint.
type round struct {
	endpoint  string
	seen      []atomic.Bool
	remaining atomic.Int32
	last      atomic.Int64 // UnixNano of the latest first sighting
	done      chan struct{}
}

func newRound(endpoint string, n int) *round {
	r := &round{endpoint: endpoint, seen: make([]atomic.Bool, n), done: make(chan struct{})}
	r.remaining.Store(int32(n))
	return r
}

// roundHandler marks its agent in the current round when told about a
// change that brought the round's endpoint.
type roundHandler struct {
	agent atomic.Pointer[Agent]
	idx   int
	cur   *atomic.Pointer[round]
	downs *atomic.Int64
}

func (h *roundHandler) RecordsChanged(network string) {
	r, a := h.cur.Load(), h.agent.Load()
	if r == nil || a == nil || network != benchNet || r.seen[h.idx].Load() {
		return
	}
	if _, ok := a.Record(r.endpoint); !ok || !r.seen[h.idx].CompareAndSwap(false, true) {
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
