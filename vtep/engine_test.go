package vtep

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap/taptest"
)

func TestAddNetworkRejects(t *testing.T) {
	a := newCluster(t, 1, netConfig("blue", 1))[0]
	with := func(f func(*NetworkConfig)) NetworkConfig {
		nc := netConfig("red", 2)
		f(&nc)
		return nc
	}
	tests := []struct {
		name string
		nc   NetworkConfig
	}{
		{"VNI 0", with(func(nc *NetworkConfig) { nc.VNI = 0 })},
		{"VNI over 24 bits", with(func(nc *NetworkConfig) { nc.VNI = 1 << 24 })},
		{"MTU below 68", with(func(nc *NetworkConfig) { nc.MTU = 67 })},
		{"MTU too large for a datagram", with(func(nc *NetworkConfig) { nc.MTU = 65535 - maxFrameOverhead - encap.HeaderLen + 1 })},
		{"MTU too large for a sealed datagram", with(func(nc *NetworkConfig) {
			nc.Learn, nc.Encrypted, nc.MTU = false, true, 65535-maxFrameOverhead-encap.HeaderLen-wcrypto.Overhead+1
		})},
		{"encrypted and learning", with(func(nc *NetworkConfig) { nc.Encrypted = true })},
		{"no name", with(func(nc *NetworkConfig) { nc.Name = "" })},
		{"duplicate VNI", with(func(nc *NetworkConfig) { nc.VNI = 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.eng.AddNetwork(tt.nc, taptest.New("rejected", 1)); err == nil {
				t.Fatalf("AddNetwork(%+v) = nil; want an error", tt.nc)
			}
		})
	}
	if got := len(*a.eng.nets.Load()); got != 1 {
		t.Fatalf("engine has %d networks; want 1", got)
	}
	// The original VNI 1 network still has its TAP and loop.
	if _, err := a.taps[1].Write([][]byte{make([]byte, 60)}, 0); err != nil {
		t.Fatalf("VNI 1 TAP after a duplicate AddNetwork: %v; want it open", err)
	}
}

func TestUnknownVNIOperations(t *testing.T) {
	a := newCluster(t, 1, netConfig("blue", 1))[0]
	if err := a.eng.RemoveNetwork(2); err == nil {
		t.Errorf("RemoveNetwork(2) = nil; want an error")
	}
	if err := a.eng.SetPeers(2, nil); err == nil {
		t.Errorf("SetPeers(2) = nil; want an error")
	}
}

func TestRemoveNetwork(t *testing.T) {
	blue, red := netConfig("blue", 1), netConfig("red", 2)
	nodes := newCluster(t, 2, blue, red)
	a, b := nodes[0], nodes[1]
	for _, vni := range []uint32{blue.VNI, red.VNI} {
		f := ether(bcast, macB, byte(vni), 60)
		b.taps[vni].Inject(f)
		expectFrame(t, a.taps[vni], f)
	}
	oldRed := a.taps[red.VNI]
	if err := a.eng.RemoveNetwork(red.VNI); err != nil {
		t.Fatalf("RemoveNetwork(%d): %v", red.VNI, err)
	}
	// RemoveNetwork has waited for the loop; the TAP is closed.
	if _, err := oldRed.Write([][]byte{make([]byte, 60)}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write to removed network's TAP: %v; want net.ErrClosed", err)
	}
	if _, ok := a.fdb.Lookup(red.VNI, macB); ok {
		t.Errorf("removed VNI %d still has %v in the FDB", red.VNI, macB)
	}
	if _, ok := a.fdb.Lookup(blue.VNI, macB); !ok {
		t.Errorf("VNI %d lost %v when VNI %d was removed", blue.VNI, macB, red.VNI)
	}
	if got := testutil.CollectAndCount(a.reg, "weft_network_rx_packets_total"); got != 1 {
		t.Errorf("networks exported after removal: got %d; want 1", got)
	}
	if err := a.eng.RemoveNetwork(red.VNI); err == nil {
		t.Errorf("second RemoveNetwork(%d) = nil; want an error", red.VNI)
	}

	before := dropCounts(&a.reg.Underlay)
	for range 3 {
		a.conn.Inject(vxlan(red.VNI, ether(bcast, macB, 1, 60)), b.addr)
	}
	valid := ether(bcast, macB, 2, 60)
	a.conn.Inject(vxlan(blue.VNI, valid), b.addr)
	expectFrame(t, a.taps[blue.VNI], valid)
	checkDropDelta(t, "underlay", &a.reg.Underlay, before, map[metrics.Reason]uint64{metrics.DropUnknownVNI: 3})

	// The VNI can be added again, with a new device.
	newRed := a.addNetwork(t, func() NetworkConfig { nc := red; nc.Peers = []netip.AddrPort{b.addr}; return nc }())
	f := ether(bcast, macB, 3, 60)
	b.taps[red.VNI].Inject(f)
	expectFrame(t, newRed, f)
	if got, ok := oldRed.Next(0); ok {
		t.Errorf("removed TAP got %x; want nothing", got)
	}
}

func TestSetPeers(t *testing.T) {
	nc := netConfig("blue", 1)
	nodes := newCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctr := a.reg.Network(nc.Name, nc.VNI)

	peers := []netip.AddrPort{c.addr}
	if err := a.eng.SetPeers(nc.VNI, peers); err != nil {
		t.Fatalf("SetPeers: %v", err)
	}
	peers[0] = b.addr // SetPeers must have copied
	f := ether(bcast, macA, 1, 60)
	a.taps[1].Inject(f)
	expectFrame(t, c.taps[1], f)
	waitCount(t, "tx packets", ctr.TxPackets.Load, 1)

	if err := a.eng.SetPeers(nc.VNI, []netip.AddrPort{b.addr, c.addr}); err != nil {
		t.Fatalf("SetPeers: %v", err)
	}
	m := marker(macA, 0)
	a.taps[1].Inject(m)
	expectFrame(t, b.taps[1], m) // B never got f
	expectFrame(t, c.taps[1], m)
	waitCount(t, "tx packets", ctr.TxPackets.Load, 3)

	if err := a.eng.SetPeers(nc.VNI, nil); err != nil {
		t.Fatalf("SetPeers(nil): %v", err)
	}
	a.taps[1].Inject(ether(bcast, macA, 2, 60))
	waitCount(t, "no_destination drops", func() uint64 { return ctr.Drops(metrics.DropNoDestination) }, 1)
}

func TestClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	underlay := encaptest.NewNetwork()
	conn, err := underlay.Listen(nodeAddr(0), 8)
	if err != nil {
		t.Fatal(err)
	}
	e := New(DefaultConfig(), conn, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	e.Start()
	dev := taptest.New("blue", 8)
	if err := e.AddNetwork(netConfig("blue", 1), dev); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := e.Close(); err != nil {
			t.Fatalf("Close #%d: %v; want nil", i+1, err)
		}
	}
	if _, err := dev.Write([][]byte{make([]byte, 60)}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("TAP write after Close: %v; want net.ErrClosed", err)
	}
	if _, err := conn.WriteBatch([][]byte{make([]byte, 60)}, []netip.AddrPort{nodeAddr(1)}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket write after Close: %v; want net.ErrClosed", err)
	}
	if err := e.AddNetwork(netConfig("red", 2), taptest.New("red", 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("AddNetwork after Close: %v; want net.ErrClosed", err)
	}
}

func TestCloseWithoutStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn, err := encaptest.NewNetwork().Listen(nodeAddr(0), 8)
	if err != nil {
		t.Fatal(err)
	}
	e := New(DefaultConfig(), conn, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close of an engine never started did not return within 5s")
	}
}

func TestLearnedEntriesAge(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn, err := encaptest.NewNetwork().Listen(nodeAddr(0), 8)
	if err != nil {
		t.Fatal(err)
	}
	table := fdb.New()
	cfg := DefaultConfig()
	cfg.LearnAge = 20 * time.Millisecond
	e := New(cfg, conn, table, metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	table.Learn(1, macA, nodeAddr(1), time.Now())
	table.AddStatic(1, macB, nodeAddr(2))
	e.Start()
	defer e.Close()
	waitCount(t, "learned entries", func() uint64 { n, _ := table.Len(); return uint64(n) }, 1)
	if _, ok := table.Lookup(1, macB); !ok {
		t.Fatalf("static entry for %v expired", macB)
	}
}
