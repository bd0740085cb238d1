package vtep

import (
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap/taptest"
)

// randomSources returns count VXLAN datagrams for VNI 1, each a small frame
// from a distinct random unicast source MAC: what anyone who can reach the
// VXLAN port can send to fill a learning network's FDB.
func randomSources(count int) [][]byte {
	rng := rand.New(rand.NewPCG(13, 3))
	seen := map[fdb.MAC]bool{}
	out := make([][]byte, 0, count)
	for len(out) < count {
		var src fdb.MAC
		v := rng.Uint64()
		for i := range src {
			src[i] = byte(v >> (8 * i))
		}
		src[0] &^= 1 // unicast
		if !seen[src] {
			seen[src] = true
			out = append(out, vxlan(1, ether(macA, src, 1, 64)))
		}
	}
	return out
}

// feed runs pkts through e's receive path in batches of batchLen, all from
// one sender.
func feed(e *Engine, b *rxBatch, pkts [][]byte) {
	now := time.Now()
	for len(pkts) > 0 {
		count := min(len(pkts), batchLen)
		for i, p := range pkts[:count] {
			b.sizes[i] = copy(b.bufs[i], p)
			b.from[i] = nodeAddr(1)
		}
		e.receive(b, count, now)
		pkts = pkts[count:]
	}
}

// BenchmarkLearnRandomSources feeds 20,000 frames from random source MACs
// through the receive path of a learning network, starting each round from
// an empty FDB: one op is the 20,000 frames.
func BenchmarkLearnRandomSources(b *testing.B) {
	x := newBare(b)
	pkts := randomSources(20000)
	batch := newRxBatch(batchLen, 2048)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		x.e.fdb.DeleteVNI(1)
		b.StartTimer()
		feed(x.e, batch, pkts)
	}
	if macs, _ := x.e.fdb.Len(); macs != len(pkts) {
		b.Fatalf("FDB holds %d MACs; want %d", macs, len(pkts))
	}
}

// TestLearnLimit checks that a network learns at most Config.LearnLimit
// MACs: frames from further senders are delivered but not learned, and
// counted as learn_limit drops, one per frame; known senders are still
// refreshed and followed when they move; and ageing makes room.
func TestLearnLimit(t *testing.T) {
	const limit = 4
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so runs last
	underlay := encaptest.NewNetwork()
	conn, err := underlay.Listen(nodeAddr(1), 64)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.LearnLimit = limit
	nd := &node{addr: nodeAddr(1), conn: conn, fdb: fdb.New(), reg: metrics.NewRegistry(), taps: map[uint32]*taptest.Device{}}
	nd.eng = New(cfg, conn, nd.fdb, nd.reg, slog.New(slog.DiscardHandler))
	nd.eng.Start()
	t.Cleanup(func() {
		if err := nd.eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	})
	dev := nd.addNetwork(t, netConfig("blue", 1))
	nd.fdb.AddStatic(1, macC, nodeAddr(2)) // static rows do not count
	ctr := nd.reg.Network("blue", 1)
	before := dropCounts(ctr)
	src := func(i int) fdb.MAC { return fdb.MAC{0x02, 0xee, 0, 0, 0, byte(i)} }
	from, moved := nodeAddr(0), nodeAddr(2)
	steps := []struct {
		src  fdb.MAC
		from netip.AddrPort
	}{
		{src(0), from}, {src(1), from}, {src(2), from}, {src(3), from}, // up to the limit
		{src(4), from}, {src(5), from}, {src(4), from}, // beyond it: three drops
		{src(0), from}, {src(1), moved}, // known MACs: refreshed, moved
	}
	for i, s := range steps {
		f := ether(bcast, s.src, byte(i), 60)
		conn.Inject(vxlan(1, f), s.from)
		expectFrame(t, dev, f) // delivered, learned or not
	}
	waitCount(t, "learn_limit drops", func() uint64 { return ctr.Drops(metrics.DropLearnLimit) - before[metrics.DropLearnLimit] }, 3)
	checkDropDelta(t, "network", ctr, before, map[metrics.Reason]uint64{metrics.DropLearnLimit: 3})
	if got := learnedMACs(nd.fdb, 1); got != limit {
		t.Errorf("learned MACs: got %d; want %d", got, limit)
	}
	for i, want := range []struct {
		vtep netip.AddrPort
		ok   bool
	}{{from, true}, {moved, true}, {from, true}, {from, true}, {}, {}} {
		if got, ok := nd.fdb.Lookup(1, src(i)); got != want.vtep || ok != want.ok {
			t.Errorf("Lookup(%v) = %v, %v; want %v, %v", src(i), got, ok, want.vtep, want.ok)
		}
	}

	// Ageing frees room: once the rows expire, a new sender is learned.
	nd.fdb.Expire(time.Now().Add(time.Hour), cfg.LearnAge)
	f := ether(bcast, src(5), 0x55, 60)
	conn.Inject(vxlan(1, f), from)
	expectFrame(t, dev, f)
	if got, ok := nd.fdb.Lookup(1, src(5)); got != from || !ok {
		t.Errorf("after ageing: Lookup(%v) = %v, %v; want %v, true", src(5), got, ok, from)
	}
	if got := ctr.Drops(metrics.DropLearnLimit) - before[metrics.DropLearnLimit]; got != 3 {
		t.Errorf("learn_limit drops after ageing: got %d; want 3", got)
	}
}

// learnedMACs returns how many learned (not static) MACs vni has.
func learnedMACs(t *fdb.Table, vni uint32) int {
	n := 0
	for _, e := range t.DumpVNI(vni).MACs {
		if !e.Static {
			n++
		}
	}
	return n
}
