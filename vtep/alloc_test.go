package vtep

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// discardConn is an underlay that sends every datagram nowhere and has
// nothing to read.
type discardConn struct{ sent atomic.Uint64 }

var _ encap.Conn = (*discardConn)(nil)

func (c *discardConn) ReadBatch([][]byte, []int, []netip.AddrPort, int) (int, error) {
	return 0, net.ErrClosed
}

func (c *discardConn) WriteBatch(bufs [][]byte, _ []netip.AddrPort, _ int) (int, error) {
	c.sent.Add(uint64(len(bufs)))
	return len(bufs), nil
}

func (c *discardConn) LocalAddr() netip.AddrPort { return nodeAddr(0) }
func (c *discardConn) BatchSize() int            { return 64 }
func (c *discardConn) Close() error              { return nil }

// discardTAP is a TAP device that writes every frame nowhere and has nothing
// to read, so a network's transmit loop returns at once.
type discardTAP struct{ written atomic.Uint64 }

var _ tap.Device = (*discardTAP)(nil)

func (d *discardTAP) Read([][]byte, []int, int) (int, error) { return 0, net.ErrClosed }

func (d *discardTAP) Write(bufs [][]byte, _ int) (int, error) {
	d.written.Add(uint64(len(bufs)))
	return len(bufs), nil
}

func (d *discardTAP) BatchSize() int { return 64 }
func (d *discardTAP) Name() string   { return "discard" }
func (d *discardTAP) Close() error   { return nil }

const batchLen = 64

// bare is an engine, never started, with one network on discarding devices,
// for driving transmit and receive directly.
type bare struct {
	e    *Engine
	n    *network
	conn *discardConn
	dev  *discardTAP
}

func newBare(tb testing.TB, peers ...netip.AddrPort) *bare {
	tb.Helper()
	x := &bare{conn: new(discardConn), dev: new(discardTAP)}
	nc := netConfig("blue", 1)
	nc.Peers = peers
	x.e, x.n = bareEngine(tb, x.conn, x.dev, nc)
	return x
}

// bareEngine returns an engine on conn, never started, with network nc on
// dev, whose transmit loop has already ended.
func bareEngine(tb testing.TB, conn encap.Conn, dev *discardTAP, nc NetworkConfig) (*Engine, *network) {
	tb.Helper()
	e := New(DefaultConfig(), conn, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	if err := e.AddNetwork(nc, dev); err != nil {
		tb.Fatal(err)
	}
	n := (*e.nets.Load())[nc.VNI]
	<-n.done // the transmit loop has seen the device closed
	tb.Cleanup(func() { e.Close() })
	return e, n
}

// txBatchOf returns a transmit batch holding batchLen copies of frame at
// Headroom, as the transmit loop would read them.
func (x *bare) txBatchOf(frame []byte) *txBatch {
	b := newTxBatch(batchLen, x.n.maxFrame+1)
	for i := range batchLen {
		b.sizes[i] = copy(b.bufs[i][Headroom:], frame)
	}
	return b
}

// rxBatchOf returns a receive batch holding batchLen copies of pkt from
// sender, as the receive loop would read them.
func rxBatchOf(pkt []byte, from netip.AddrPort) *rxBatch {
	b := newRxBatch(batchLen, 2048)
	for i := range batchLen {
		b.sizes[i] = copy(b.bufs[i], pkt)
		b.from[i] = from
	}
	return b
}

func TestTransmitAllocs(t *testing.T) {
	const runs = 100
	tests := []struct {
		name    string
		frame   []byte
		peers   int // flood destinations
		setup   func(*fdb.Table)
		sent    uint64 // datagrams per frame
		replies uint64 // ARP replies per frame
	}{
		{"known unicast", ether(macB, macA, 1, 1400), 2, func(t *fdb.Table) { t.AddStatic(1, macB, nodeAddr(1)) }, 1, 0},
		{"flood to two peers", ether(bcast, macA, 1, 1400), 2, nil, 2, 0},
		{"unknown unicast to eight peers", ether(macC, macA, 1, 1400), 8, nil, 8, 0},
		{"ARP answered locally", arpRequest(macA, ipA, ipB), 2, func(t *fdb.Table) { t.AddStaticIP(1, ipB, macB); t.AddStatic(1, macB, nodeAddr(2)) }, 0, 1},
		{"oversize drop", ether(bcast, macA, 1, 1519), 2, nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newBare(t, others(-1, tt.peers)...)
			if tt.setup != nil {
				tt.setup(x.e.fdb)
			}
			b := x.txBatchOf(tt.frame)
			allocs := testing.AllocsPerRun(runs, func() {
				if tt.replies > 0 { // answered in place: restore the requests
					for i := range batchLen {
						copy(b.bufs[i][Headroom:], tt.frame)
					}
				}
				x.e.transmit(x.n, b, batchLen)
			})
			if allocs != 0 {
				t.Errorf("allocs per batch: got %v; want 0", allocs)
			}
			frames := uint64((runs + 1) * batchLen) // AllocsPerRun warms up once
			if got, want := x.conn.sent.Load(), frames*tt.sent; got != want {
				t.Errorf("datagrams sent: got %d; want %d", got, want)
			}
			if got, want := x.n.ctr.TxPackets.Load(), frames*tt.sent; got != want {
				t.Errorf("tx packets: got %d; want %d", got, want)
			}
			var toPeers uint64
			for _, s := range x.e.reg.Peers.Stats() {
				toPeers += s.TxPackets
			}
			if want := frames * tt.sent; toPeers != want {
				t.Errorf("tx packets counted per peer: got %d; want %d", toPeers, want)
			}
			if got, want := x.dev.written.Load(), frames*tt.replies; got != want {
				t.Errorf("ARP replies written: got %d; want %d", got, want)
			}
		})
	}
}

func TestReceiveAllocs(t *testing.T) {
	const runs = 100
	from := netip.MustParseAddrPort("198.18.0.2:51000")
	tests := []struct {
		name    string
		pkt     []byte
		learn   bool
		deliver bool
	}{
		{"learning refresh", vxlan(1, ether(macA, macB, 1, 1400)), true, true},
		{"ARP learning refresh", vxlan(1, arpReply(macB, ipB, macA, ipA)), true, true},
		{"learning off", vxlan(1, ether(macA, macB, 1, 1400)), false, true},
		{"unknown VNI drop", vxlan(9, ether(macA, macB, 1, 1400)), true, false},
		{"bad flags drop", append([]byte{0x0c}, vxlan(1, ether(macA, macB, 1, 60))[1:]...), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newBare(t, nodeAddr(1)) // the sender's address, another port
			x.n.cfg.Learn = tt.learn
			b := rxBatchOf(tt.pkt, from)
			now := time.Now()
			allocs := testing.AllocsPerRun(runs, func() { x.e.receive(b, batchLen, now) })
			if allocs != 0 {
				t.Errorf("allocs per batch: got %v; want 0", allocs)
			}
			want := uint64(0)
			if tt.deliver {
				want = (runs + 1) * batchLen
			}
			if got := x.dev.written.Load(); got != want {
				t.Errorf("frames delivered: got %d; want %d", got, want)
			}
			if got, want := x.n.ctr.RxPackets.Load(), want; got != want {
				t.Errorf("rx packets: got %d; want %d", got, want)
			}
			if got := x.e.reg.Peers.Sender(nodeAddr(1)).RxPackets.Load(); got != want {
				t.Errorf("rx packets counted for the peer: got %d; want %d", got, want)
			}
			vtep, ok := x.e.fdb.Lookup(1, macB)
			if wantOK := tt.learn && tt.deliver; ok != wantOK || (ok && vtep != nodeAddr(1)) {
				t.Errorf("Lookup(%v) = %v, %v; want %v, %v", macB, vtep, ok, nodeAddr(1), wantOK)
			}
		})
	}
}

// BenchmarkTransmit measures the transmit path per batch, plaintext and
// sealed. The frames are copied in afresh each round, as sealing writes in
// place.
func BenchmarkTransmit(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		for _, bc := range []struct {
			name string
			dst  fdb.MAC
		}{
			{"unicast", macB},
			{"flood2", bcast},
		} {
			name := bc.name
			if sealed {
				name = "sealed-" + name
			}
			b.Run(name, func(b *testing.B) {
				var e *Engine
				var n *network
				if sealed {
					x := newESPBare(b, nodeAddr(1), nodeAddr(2))
					e, n = x.e, x.n
				} else {
					x := newBare(b, nodeAddr(1), nodeAddr(2))
					e, n = x.e, x.n
				}
				e.fdb.AddStatic(1, macB, nodeAddr(1))
				frame := ether(bc.dst, macA, 1, 1400)
				batch := newTxBatch(batchLen, n.maxFrame+1)
				b.SetBytes(batchLen * 1400)
				b.ReportAllocs()
				for b.Loop() {
					for i := range batchLen {
						batch.sizes[i] = copy(batch.bufs[i][Headroom:], frame)
					}
					e.transmit(n, batch, batchLen)
				}
			})
		}
	}
}

func BenchmarkReceive(b *testing.B) {
	x := newBare(b)
	batch := rxBatchOf(vxlan(1, ether(macA, macB, 1, 1400)), nodeAddr(1))
	now := time.Now()
	b.SetBytes(batchLen * 1400)
	b.ReportAllocs()
	for b.Loop() {
		x.e.receive(batch, batchLen, now)
	}
}
