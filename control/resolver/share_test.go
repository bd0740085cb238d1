package resolver

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/weftnet/weft/internal/poll"
)

// hogQueries is how many forwards the hogging container starts at once:
// more than the 256 that were once shared by every container.
const hogQueries = 300

// TestOneContainerCannotStarveAnother has container A flood the shared
// Resolver with queries for a name whose upstream never answers, and
// checks that container B's query for a name the same upstream answers at
// once still gets its answer while A's forwards are in flight.
func TestOneContainerCannotStarveAnother(t *testing.T) {
	var slowSeen atomic.Int64
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		if q.Question[0].Name == "slow.example." {
			slowSeen.Add(1)
			return // never answered
		}
		_ = w.WriteMsg(fastAnswer(q))
	})
	cfg := DefaultConfig()
	cfg.Upstreams, cfg.ResolvConf, cfg.Logger = []netip.AddrPort{up}, "", quietLogger()
	cfg.Timeout = 30 * time.Second // A's forwards stay in flight for the whole test
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	_, udpA, _ := serveLoopback(t, r, on("A"))
	_, udpB, tcpB := serveLoopback(t, r, on("B"))

	asked := flood(t, udpA, "slow.example.", hogQueries, func() int {
		return int(slowSeen.Load()) + int(r.Stats().Overloaded)
	})
	if asked < hogQueries {
		t.Fatalf("A's queries: %d forwarded or refused; want %d", asked, hogQueries)
	}
	if got := slowSeen.Load(); got > maxForwards {
		t.Errorf("A's forwards in flight: got %d; want at most %d", got, maxForwards)
	}
	for _, tc := range []struct{ proto, addr string }{{"udp", udpB}, {"tcp", tcpB}} {
		start := time.Now()
		resp := ask(t, tc.proto, tc.addr, question("fast.example.", dns.TypeA))
		if got, want := describe(resp), describe(fastAnswer(question("fast.example.", dns.TypeA))); got != want {
			t.Errorf("B over %s, with %d of A's forwards in flight: got %s after %v; want %s",
				tc.proto, slowSeen.Load(), got, time.Since(start), want)
		}
	}
	if f := r.Stats().Failed; f != 0 {
		t.Fatalf("%d of A's forwards ended before B asked; want all still in flight", f)
	}
}

// fastAnswer is the upstream's answer to q: one A record, 192.0.2.1.
func fastAnswer(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	m.Answer = []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET},
		A:   net.IPv4(192, 0, 2, 1),
	}}
	return m
}

// floodBatch is how many queries flood sends before it waits for them to
// arrive: few enough that no socket buffer on the way overflows.
const floodBatch = 25

// flood sends n queries for name to the UDP address addr, from one socket,
// without reading the answers, in batches: after each it waits until
// arrived, which counts the queries that reached the resolver, has
// counted the batch. It returns the last count, short of n if some were
// lost.
func flood(t *testing.T, addr, name string, n int, arrived func() int) int {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for i := range n {
		q := question(name, dns.TypeA)
		q.Id = uint16(i)
		if _, err := c.Write(mustPack(t, q)); err != nil {
			t.Fatal(err)
		}
		sent := i + 1
		if (sent%floodBatch == 0 || sent == n) && !poll.Wait(5*time.Second, func() bool { return arrived() >= sent }) {
			break // lost on the way: the caller says how many arrived
		}
	}
	return arrived()
}

// TestQuotaAgainstModel takes and gives slots of three small quotas
// sharing one pool at random, and checks each take against the rule
// stated directly: a reserved slot while one is free, else a pool slot
// while the quota may borrow more and the pool has one, else none.
func TestQuotaAgainstModel(t *testing.T) {
	const reserved, most, poolSize, quotas = 2, 5, 4, 3
	pool := make(chan struct{}, poolSize)
	type model struct{ own, borrowed int }
	var (
		qs     [quotas]*quota
		models [quotas]model
		held   [quotas][]slot
		inPool int
	)
	for i := range qs {
		qs[i] = newQuota(reserved, most, pool)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 5000 {
		i := rng.IntN(quotas)
		m := &models[i]
		if len(held[i]) > 0 && rng.IntN(2) == 0 {
			k := rng.IntN(len(held[i]))
			s := held[i][k]
			held[i] = append(held[i][:k], held[i][k+1:]...)
			qs[i].give(s)
			if s == ownSlot {
				m.own--
			} else {
				m.borrowed--
				inPool--
			}
			continue
		}
		want := noSlot
		switch {
		case m.own < reserved:
			want, m.own = ownSlot, m.own+1
		case m.borrowed < most-reserved && inPool < poolSize:
			want, m.borrowed, inPool = poolSlot, m.borrowed+1, inPool+1
		}
		got := qs[i].take()
		if got != want {
			t.Fatalf("step %d, quota %d holding %+v, pool %d in use: take got %d; want %d", step, i, *m, inPool, got, want)
		}
		if got != noSlot {
			held[i] = append(held[i], got)
		}
	}
}
