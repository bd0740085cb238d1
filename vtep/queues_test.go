package vtep

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap/taptest"
)

// With several queues, each TAP queue's transmit loop sends on its own
// socket, and each socket's receive loop writes to its own TAP queue.
func TestQueuesPairSocketsWithTAPQueues(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	underlay := encaptest.NewNetwork()
	// Node a has two sockets; in the lab they need two addresses, where
	// SO_REUSEPORT would give them one.
	second := netip.MustParseAddrPort("198.18.0.101:4789")
	var conns []encap.Conn
	for _, addr := range []netip.AddrPort{nodeAddr(0), second} {
		c, err := underlay.Listen(addr, 64)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	a := NewQueues(DefaultConfig(), conns, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	a.Start()
	t.Cleanup(func() { a.Close() })
	nc := netConfig("blue", 1)
	nc.Peers = []netip.AddrPort{nodeAddr(1)}
	q0, q1 := taptest.New("blue-q0", 16), taptest.New("blue-q1", 16)
	if err := a.AddNetwork(nc, q0, q1); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, underlay, nodeAddr(1))
	nc.Peers = []netip.AddrPort{nodeAddr(0)}
	bTap := b.addNetwork(t, nc)

	// A frame read from queue 1 leaves from socket 1: b learns macA there.
	f := ether(macB, macA, 1, 100)
	q1.Inject(f)
	expectFrame(t, bTap, f)
	if got, ok := b.fdb.Lookup(1, macA); !ok || got.Addr() != second.Addr() {
		t.Fatalf("b learned macA at %v (%v); want socket 1's address %v", got, ok, second.Addr())
	}
	// A datagram received on socket 1 is written to queue 1, on socket 0 to
	// queue 0.
	back := ether(macA, macB, 2, 100)
	conns[1].(*encaptest.Conn).Inject(vxlan(1, back), nodeAddr(1))
	expectFrame(t, q1, back)
	conns[0].(*encaptest.Conn).Inject(vxlan(1, back), nodeAddr(1))
	expectFrame(t, q0, back)
	if _, ok := q0.Next(0); ok {
		t.Error("queue 0 got a second frame")
	}
	// Removing the network closes every queue.
	if err := a.RemoveNetwork(1); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*taptest.Device{q0, q1} {
		if _, err := q.Write([][]byte{make([]byte, 60)}, 0); err == nil {
			t.Errorf("%s still open after RemoveNetwork", q.Name())
		}
	}
}

// A receive loop forgets a removed network's delivery state and its
// coalesce buffers at its next batch.
func TestReceiveForgetsRemovedNetworks(t *testing.T) {
	x := newBare(t)
	b := rxBatchOf(vxlan(1, ether(macA, macB, 1, 100)), nodeAddr(1))
	x.e.receive(b, batchLen, time.Now())
	if len(b.dels) != 1 {
		t.Fatalf("delivery states after a batch of VNI 1: %d; want 1", len(b.dels))
	}
	if err := x.e.RemoveNetwork(1); err != nil {
		t.Fatal(err)
	}
	x.e.receive(b, batchLen, time.Now())
	if len(b.dels) != 0 {
		t.Errorf("delivery states after VNI 1 was removed: %d; want 0", len(b.dels))
	}
}
