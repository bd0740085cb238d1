package vtep

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap/taptest"
)

// Bounds on every wait of the in-memory tests.
const (
	waitFrame   = time.Second // for a frame that must arrive
	waitCounter = 2 * time.Second
)

// learnPort is the VXLAN port every test engine listens on and learns.
const learnPort = 4789

// node is one engine of a test cluster with everything it owns.
type node struct {
	addr netip.AddrPort // underlay address, 198.18.0.N:4789
	conn *encaptest.Conn
	fdb  *fdb.Table
	reg  *metrics.Registry
	eng  *Engine
	taps map[uint32]*taptest.Device // by VNI
}

// netConfig returns a learning network with an MTU of 1500 and no peers set
// (newCluster fills them in).
func netConfig(name string, vni uint32) NetworkConfig {
	return NetworkConfig{Name: name, VNI: vni, MTU: 1500, Learn: true, LearnPort: learnPort}
}

// nodeAddr is the underlay address of node i: 198.18.0.(i+1):4789.
func nodeAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), learnPort)
}

// newCluster starts size engines on one in-memory underlay, each with its own
// FDB, registry and one taptest device per network of nets. A network whose
// Peers is nil gets every other node as peers; a non-nil Peers is kept as is.
// The engines are closed, and the test fails on a leaked goroutine, at
// cleanup.
func newCluster(t *testing.T, size int, nets ...NetworkConfig) []*node {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so runs last
	underlay := encaptest.NewNetwork()
	nodes := make([]*node, size)
	for i := range nodes {
		nodes[i] = startNode(t, underlay, nodeAddr(i))
	}
	for i, nd := range nodes {
		for _, nc := range nets {
			if nc.Peers == nil {
				nc.Peers = others(i, size)
			}
			nd.addNetwork(t, nc)
		}
	}
	return nodes
}

// others returns the addresses of the nodes of a cluster of size but i.
func others(i, size int) []netip.AddrPort {
	peers := []netip.AddrPort{}
	for j := range size {
		if j != i {
			peers = append(peers, nodeAddr(j))
		}
	}
	return peers
}

func startNode(t *testing.T, underlay *encaptest.Network, addr netip.AddrPort) *node {
	t.Helper()
	return startNodeWith(t, underlay, addr, nil)
}

// startNodeWith is startNode with the engine's socket wrapped by wrap, if
// not nil.
func startNodeWith(t *testing.T, underlay *encaptest.Network, addr netip.AddrPort, wrap func(*encaptest.Conn) encap.Conn) *node {
	t.Helper()
	conn, err := underlay.Listen(addr, 64)
	if err != nil {
		t.Fatalf("listen %v: %v", addr, err)
	}
	var engConn encap.Conn = conn
	if wrap != nil {
		engConn = wrap(conn)
	}
	nd := &node{addr: addr, conn: conn, fdb: fdb.New(), reg: metrics.NewRegistry(), taps: map[uint32]*taptest.Device{}}
	nd.eng = New(DefaultConfig(), engConn, nd.fdb, nd.reg, slog.New(slog.DiscardHandler))
	nd.eng.Start()
	t.Cleanup(func() {
		if err := nd.eng.Close(); err != nil {
			t.Errorf("close engine %v: %v", addr, err)
		}
	})
	return nd
}

func (nd *node) addNetwork(t *testing.T, nc NetworkConfig) *taptest.Device {
	t.Helper()
	dev := taptest.New(fmt.Sprintf("%s-%d", nc.Name, nd.addr.Addr().As4()[3]), 16)
	if err := nd.eng.AddNetwork(nc, dev); err != nil {
		t.Fatalf("%v: AddNetwork(%+v): %v", nd.addr, nc, err)
	}
	nd.taps[nc.VNI] = dev
	return dev
}

// expectFrame fails unless the next frame dev writes is want.
func expectFrame(t *testing.T, dev *taptest.Device, want []byte) {
	t.Helper()
	got, ok := dev.Next(waitFrame)
	switch {
	case !ok:
		t.Fatalf("%s: no frame within %v; want %s", dev.Name(), waitFrame, short(want))
	case !bytes.Equal(got, want):
		t.Fatalf("%s: got frame %s; want %s", dev.Name(), short(got), short(want))
	}
}

// short formats a frame for a failure message: whole if short, otherwise its
// length and first 64 bytes.
func short(f []byte) string {
	if len(f) <= 64 {
		return fmt.Sprintf("%x", f)
	}
	return fmt.Sprintf("(%d bytes) %x...", len(f), f[:64])
}

// marker returns a distinct broadcast frame: injected after the frames under
// test on the same TAP, its arrival at a device proves that none of them is
// still on its way there, since a network's frames keep their order end to
// end.
func marker(src fdb.MAC, id byte) []byte {
	return ether(bcast, src, 0xf0|id, 64)
}

// waitCount waits until load returns want, failing with the last value read
// if it does not within waitCounter. Counters are added after a batch is
// written, so they may trail the frames seen on a device.
func waitCount(t *testing.T, what string, load func() uint64, want uint64) {
	t.Helper()
	var got uint64
	if !poll.Wait(waitCounter, func() bool { got = load(); return got == want }) {
		t.Fatalf("%s: got %d; want %d", what, got, want)
	}
}

// dropCounts reads every drop counter of c.
func dropCounts(c *metrics.Counters) map[metrics.Reason]uint64 {
	m := map[metrics.Reason]uint64{}
	for _, r := range metrics.Reasons() {
		m[r] = c.Drops(r)
	}
	return m
}

// checkDropDelta fails unless every drop counter of c moved from before by
// exactly want[reason] (zero for reasons not in want).
func checkDropDelta(t *testing.T, what string, c *metrics.Counters, before, want map[metrics.Reason]uint64) {
	t.Helper()
	for _, r := range metrics.Reasons() {
		if got := c.Drops(r) - before[r]; got != want[r] {
			t.Errorf("%s drops[%s] moved by %d; want %d", what, r, got, want[r])
		}
	}
}
