package vtep

import (
	"bytes"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/encap/encaptest"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
	"github.com/weftnet/weft/metrics"
)

// espNetworkKey is the network key every encrypted test network derives its
// SAs from.
var espNetworkKey = []byte("weft vtep test network key, 32 B")

// espNetwork returns an encrypted network with an MTU of 1500 and no peers
// set (newESPCluster fills them in). Encrypted networks do not learn.
func espNetwork(name string, vni uint32) NetworkConfig {
	return NetworkConfig{Name: name, VNI: vni, MTU: 1500, Encrypted: true}
}

// espSA names one SA: the frames of network from one node to another, in
// key generation gen. The nodes of a cluster are named by their underlay
// address.
type espSA struct {
	network, from, to string
	gen               uint64
}

// espSAOf returns the generation 1 SA of network nc from node from to node to.
func espSAOf(nc NetworkConfig, from, to netip.AddrPort) espSA {
	return espSA{nc.Name, from.String(), to.String(), 1}
}

func (s espSA) derive() ([wcrypto.KeyLen]byte, uint32) {
	return wcrypto.Derive(espNetworkKey, s.network, s.from, s.to, s.gen)
}

// spi is the SPI both ends derive for s.
func (s espSA) spi() uint32 {
	_, spi := s.derive()
	return spi
}

// out returns the sending side of s, as its sender derives it.
func (s espSA) out(tb testing.TB) *wcrypto.Outbound {
	tb.Helper()
	o, err := wcrypto.NewOutbound(s.spi(), s.key())
	if err != nil {
		tb.Fatalf("NewOutbound(%+v): %v", s, err)
	}
	return o
}

// in returns the receiving side of s, as its receiver derives it.
func (s espSA) in(tb testing.TB) *wcrypto.Inbound {
	tb.Helper()
	in, err := wcrypto.NewInbound(s.spi(), s.key())
	if err != nil {
		tb.Fatalf("NewInbound(%+v): %v", s, err)
	}
	return in
}

func (s espSA) key() [wcrypto.KeyLen]byte {
	key, _ := s.derive()
	return key
}

// espMesh returns the SAs of node i of nodes on network nc: an Outbound
// to every other node, and an Inbound from each.
func espMesh(t *testing.T, nodes []*node, i int, nc NetworkConfig) Crypto {
	t.Helper()
	c := Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{}}
	for j, peer := range nodes {
		if j == i {
			continue
		}
		c.Out[peer.addr] = espSAOf(nc, nodes[i].addr, peer.addr).out(t)
		c.In = append(c.In, espSAOf(nc, peer.addr, nodes[i].addr).in(t))
	}
	return c
}

// espKeyMesh installs espMesh on every node of nodes, for every network of
// nets.
func espKeyMesh(t *testing.T, nodes []*node, nets ...NetworkConfig) {
	t.Helper()
	for i, nd := range nodes {
		for _, nc := range nets {
			espSetCrypto(t, nd, nc.VNI, espMesh(t, nodes, i, nc))
		}
	}
}

func espSetCrypto(t *testing.T, nd *node, vni uint32, c Crypto) {
	t.Helper()
	if err := nd.eng.SetCrypto(vni, c); err != nil {
		t.Fatalf("%v: SetCrypto(%d): %v", nd.addr, vni, err)
	}
}

// espSeal returns frame behind a VXLAN header for vni, sealed with o, as a
// peer would send it.
func espSeal(tb testing.TB, o *wcrypto.Outbound, vni uint32, frame []byte) []byte {
	tb.Helper()
	plain := vxlan(vni, frame)
	buf := make([]byte, wcrypto.SealedLen(len(plain)))
	copy(buf[wcrypto.HeaderLen:], plain)
	m, err := o.Seal(buf, len(plain))
	if err != nil {
		tb.Fatalf("Seal(%d bytes): %v", len(plain), err)
	}
	return buf[:m]
}

// espSniffer is an underlay Conn that keeps a copy of every datagram its
// engine sends, in order, and passes it on.
type espSniffer struct {
	*encaptest.Conn
	sent chan espSent
	lost atomic.Uint64 // copies that did not fit in sent
}

var _ encap.Conn = (*espSniffer)(nil)

// espSent is one datagram an engine sent.
type espSent struct {
	b  []byte
	to netip.AddrPort
}

func (s *espSniffer) WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	for i, b := range bufs {
		select {
		case s.sent <- espSent{bytes.Clone(b[offset:]), to[i]}:
		default:
			s.lost.Add(1)
		}
	}
	return s.Conn.WriteBatch(bufs, to, offset)
}

// next returns the oldest datagram sent and not yet returned.
func (s *espSniffer) next(t *testing.T) espSent {
	t.Helper()
	if n := s.lost.Load(); n > 0 {
		t.Fatalf("%v: sniffer lost %d datagrams", s.LocalAddr(), n)
	}
	select {
	case d := <-s.sent:
		return d
	case <-time.After(waitFrame):
		t.Fatalf("%v: no datagram sent within %v", s.LocalAddr(), waitFrame)
		return espSent{}
	}
}

// newESPCluster is newCluster with a sniffer on every node's underlay:
// sniffers[i] sees what nodes[i] sends.
func newESPCluster(t *testing.T, size int, nets ...NetworkConfig) (nodes []*node, sniffers []*espSniffer) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so runs last
	underlay := encaptest.NewNetwork()
	nodes, sniffers = make([]*node, size), make([]*espSniffer, size)
	for i := range nodes {
		nodes[i], sniffers[i] = startSniffedNode(t, underlay, nodeAddr(i))
	}
	for i, nd := range nodes {
		for _, nc := range nets {
			if nc.Peers == nil {
				nc.Peers = others(i, size)
			}
			nd.addNetwork(t, nc)
		}
	}
	return nodes, sniffers
}

// startSniffedNode starts a node whose datagrams sent are also copied to a
// sniffer.
func startSniffedNode(t *testing.T, underlay *encaptest.Network, addr netip.AddrPort) (*node, *espSniffer) {
	t.Helper()
	var s *espSniffer
	nd := startNodeWith(t, underlay, addr, func(c *encaptest.Conn) encap.Conn {
		s = &espSniffer{Conn: c, sent: make(chan espSent, 4096)}
		return s
	})
	return nd, s
}

// espCheckSealed fails unless d is an ESP datagram to to, of the SA spi
// with sequence number seq, that carries frame and shows none of it.
func espCheckSealed(t *testing.T, d espSent, to netip.AddrPort, spi uint32, seq uint64, frame []byte) {
	t.Helper()
	if d.to != to {
		t.Errorf("datagram sent to %v; want %v", d.to, to)
	}
	if !wcrypto.IsESP(d.b) {
		t.Fatalf("datagram to %v is not ESP: %s", d.to, short(d.b))
	}
	h := wcrypto.Header(d.b)
	if got := h.SPI(); got != spi {
		t.Errorf("SPI: got %#08x; want %#08x", got, spi)
	}
	if got, gotLow := h.IV(), h.SeqLow(); got != seq || gotLow != uint32(seq) {
		t.Errorf("sequence number: got %d (low %d); want %d", got, gotLow, seq)
	}
	if got, want := len(d.b), wcrypto.SealedLen(encap.HeaderLen+len(frame)); got != want {
		t.Errorf("datagram length: got %d; want %d", got, want)
	}
	if espLeaks(d.b, frame) {
		t.Errorf("datagram shows the frame in the clear: %s", short(d.b))
	}
}

// espLeaks reports whether the ciphertext of the ESP datagram d contains
// frame's source MAC or its last 16 bytes (the payload pattern).
func espLeaks(d, frame []byte) bool {
	ct := d[wcrypto.HeaderLen:]
	return bytes.Contains(ct, frame[6:12]) || bytes.Contains(ct, frame[max(0, len(frame)-16):])
}

// espAddStatic makes each MAC of macs reachable at its node, on every node
// but its own.
func espAddStatic(nodes []*node, vni uint32, macs ...fdb.MAC) {
	for i, nd := range nodes {
		for j, mac := range macs {
			if j != i {
				nd.fdb.AddStatic(vni, mac, nodes[j].addr)
			}
		}
	}
}

// Host MACs of a sealed cluster, by node index.
var espMACs = []fdb.MAC{macA, macB, macC}

func TestSealedUnicast(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, sniff := newESPCluster(t, 2, nc)
	espAddStatic(nodes, nc.VNI, espMACs[:2]...)
	espKeyMesh(t, nodes, nc)
	maxFrame := nc.MTU + maxFrameOverhead
	tests := []struct {
		name     string
		from, to int
		frame    []byte
	}{
		{"A to B", 0, 1, ether(macB, macA, 0x5a, 600)},
		{"B to A", 1, 0, ether(macA, macB, 0xa5, 600)},
		{"A to B, shortest frame", 0, 1, ether(macB, macA, 0x11, header.EthernetLen)},
		{"B to A, largest frame", 1, 0, ether(macA, macB, 0x22, maxFrame)},
		{"A to B, ARP reply", 0, 1, arpReply(macA, ipA, macB, ipB)},
	}
	seqs := map[[2]int]uint64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := nodes[tt.from], nodes[tt.to]
			tx, rx := from.reg.Network(nc.Name, nc.VNI), to.reg.Network(nc.Name, nc.VNI)
			txPkts, txBytes, rxPkts, rxBytes := tx.TxPackets.Load(), tx.TxBytes.Load(), rx.RxPackets.Load(), rx.RxBytes.Load()
			txDrops, rxDrops, underDrops := dropCounts(tx), dropCounts(rx), dropCounts(&to.reg.Underlay)
			from.taps[nc.VNI].Inject(tt.frame)
			expectFrame(t, to.taps[nc.VNI], tt.frame)
			seqs[[2]int{tt.from, tt.to}]++
			spi := espSAOf(nc, from.addr, to.addr).spi()
			espCheckSealed(t, sniff[tt.from].next(t), to.addr, spi, seqs[[2]int{tt.from, tt.to}], tt.frame)
			n := uint64(len(tt.frame))
			waitCount(t, "tx packets", tx.TxPackets.Load, txPkts+1)
			waitCount(t, "tx bytes", tx.TxBytes.Load, txBytes+n)
			waitCount(t, "rx packets", rx.RxPackets.Load, rxPkts+1)
			waitCount(t, "rx bytes", rx.RxBytes.Load, rxBytes+n)
			checkDropDelta(t, "sender", tx, txDrops, nil)
			checkDropDelta(t, "receiver", rx, rxDrops, nil)
			checkDropDelta(t, "receiver underlay", &to.reg.Underlay, underDrops, nil)
		})
	}
}

// An encrypted network sends nothing to a VTEP it has no SA for: not
// before SetCrypto, and not to a destination SetCrypto left out.
func TestSealedFailsClosed(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, sniff := newESPCluster(t, 3, nc)
	a, b, c := nodes[0], nodes[1], nodes[2]
	espAddStatic(nodes, nc.VNI, espMACs...)
	ctr := a.reg.Network(nc.Name, nc.VNI)
	nowhere := fdb.MAC{0x02, 0, 0, 0, 0, 0xdd} // in no FDB: flooded

	t.Run("before SetCrypto", func(t *testing.T) {
		tests := []struct {
			name  string
			frame []byte
			noKey uint64
		}{
			{"unicast to B", ether(macB, macA, 1, 100), 1},
			{"unicast to C", ether(macC, macA, 2, 100), 1},
			{"broadcast", ether(bcast, macA, 3, 100), 2},
			{"unknown unicast", ether(nowhere, macA, 4, 100), 2},
			{"ARP request", arpRequest(macA, ipA, ipB), 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := dropCounts(ctr)
				a.taps[nc.VNI].Inject(tt.frame)
				waitCount(t, "no_key drops", func() uint64 { return ctr.Drops(metrics.DropNoKey) }, before[metrics.DropNoKey]+tt.noKey)
				checkDropDelta(t, "A", ctr, before, map[metrics.Reason]uint64{metrics.DropNoKey: tt.noKey})
			})
		}
	})

	// Only A to B is keyed. Below, the first datagram A's sniffer sees must
	// be the first one sealed for B: nothing was sent above.
	espSetCrypto(t, a, nc.VNI, Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{b.addr: espSAOf(nc, a.addr, b.addr).out(t)}})
	espSetCrypto(t, b, nc.VNI, Crypto{In: []*wcrypto.Inbound{espSAOf(nc, a.addr, b.addr).in(t)}})
	spiAB := espSAOf(nc, a.addr, b.addr).spi()
	var seq uint64
	t.Run("SA for B only", func(t *testing.T) {
		tests := []struct {
			name  string
			frame []byte
			noKey uint64
			toB   bool
		}{
			{"unicast to C", ether(macC, macA, 5, 100), 1, false},
			{"broadcast", ether(bcast, macA, 6, 100), 1, true},
			{"unknown unicast", ether(nowhere, macA, 7, 100), 1, true},
			{"unicast to B", ether(macB, macA, 8, 100), 0, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := dropCounts(ctr)
				m := ether(macB, macA, 0xf0|byte(i), 60) // unicast to B, after the frame
				a.taps[nc.VNI].Inject(tt.frame, m)
				want := [][]byte{m}
				if tt.toB {
					want = [][]byte{tt.frame, m}
				}
				for _, f := range want {
					expectFrame(t, b.taps[nc.VNI], f)
					seq++
					espCheckSealed(t, sniff[0].next(t), b.addr, spiAB, seq, f)
				}
				checkDropDelta(t, "A", ctr, before, map[metrics.Reason]uint64{metrics.DropNoKey: tt.noKey})
			})
		}
	})
	if n := len(sniff[0].sent); n != 0 {
		t.Errorf("A sent %d datagrams more; want 0", n)
	}
	cNet := c.reg.Network(nc.Name, nc.VNI)
	checkDropDelta(t, "C underlay", &c.reg.Underlay, nil, nil)
	checkDropDelta(t, "C network", cNet, nil, nil)
	if got := cNet.RxPackets.Load(); got != 0 {
		t.Errorf("C rx packets: got %d; want 0", got)
	}
}

// Cleartext VXLAN for an encrypted network is dropped; a plaintext network
// of the same engines is not affected.
func TestSealedDropsCleartext(t *testing.T) {
	sealed, plain := espNetwork("secret", 10), netConfig("plain", 20)
	nodes, sniff := newESPCluster(t, 2, sealed, plain)
	a, b := nodes[0], nodes[1]
	espAddStatic(nodes, sealed.VNI, espMACs[:2]...)
	espKeyMesh(t, nodes, sealed)
	ctr := b.reg.Network(sealed.Name, sealed.VNI)
	maxFrame := sealed.MTU + maxFrameOverhead
	tests := []struct {
		name  string
		pkt   []byte
		count int
	}{
		{"unicast", vxlan(sealed.VNI, ether(macB, macA, 1, 100)), 1},
		{"broadcast", vxlan(sealed.VNI, ether(bcast, macA, 2, 100)), 3},
		{"ARP request", vxlan(sealed.VNI, arpRequest(macA, ipA, ipB)), 1},
		{"oversize", vxlan(sealed.VNI, ether(bcast, macA, 3, maxFrame+1)), 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under, net, rx := dropCounts(&b.reg.Underlay), dropCounts(ctr), ctr.RxPackets.Load()
			for range tt.count {
				b.conn.Inject(tt.pkt, a.addr)
			}
			// Sent by A after the injection: B reads it after them.
			m := ether(macB, macA, 0xf0|byte(i), 60)
			a.taps[sealed.VNI].Inject(m)
			expectFrame(t, b.taps[sealed.VNI], m)
			sniff[0].next(t)
			checkDropDelta(t, "B underlay", &b.reg.Underlay, under, nil)
			checkDropDelta(t, "B network", ctr, net, map[metrics.Reason]uint64{metrics.DropCleartext: uint64(tt.count)})
			waitCount(t, "B rx packets", ctr.RxPackets.Load, rx+1)
		})
	}
	t.Run("plaintext network alongside", func(t *testing.T) {
		pctr := b.reg.Network(plain.Name, plain.VNI)
		before := dropCounts(pctr)
		f := ether(bcast, macA, 0x33, 200)
		a.taps[plain.VNI].Inject(f)
		expectFrame(t, b.taps[plain.VNI], f)
		d := sniff[0].next(t)
		vni, inner, st := encap.Decap(d.b)
		switch {
		case wcrypto.IsESP(d.b):
			t.Errorf("plaintext network sent ESP: %s", short(d.b))
		case st != encap.OK || vni != plain.VNI || !bytes.Equal(inner, f):
			t.Errorf("got VXLAN %v, VNI %d, frame %s; want ok, %d, %s", st, vni, short(inner), plain.VNI, short(f))
		}
		g := ether(macA, macB, 0x44, 200)
		b.conn.Inject(vxlan(plain.VNI, g), a.addr)
		expectFrame(t, b.taps[plain.VNI], g)
		checkDropDelta(t, "B plaintext network", pctr, before, nil)
	})
}

func TestSealedReplayDropped(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, sniff := newESPCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	espAddStatic(nodes, nc.VNI, espMACs[:2]...)
	espKeyMesh(t, nodes, nc)
	ctr := b.reg.Network(nc.Name, nc.VNI)
	send := func(t *testing.T, id byte) espSent {
		t.Helper()
		f := ether(macB, macA, id, 200)
		a.taps[nc.VNI].Inject(f)
		expectFrame(t, b.taps[nc.VNI], f)
		return sniff[0].next(t)
	}
	first, second := send(t, 1), send(t, 2)
	waitCount(t, "B rx packets", ctr.RxPackets.Load, 2) // counted after the TAP write
	tests := []struct {
		name   string
		replay [][]byte
	}{
		{"latest datagram", [][]byte{second.b}},
		{"earlier datagram", [][]byte{first.b}},
		{"one datagram three times", [][]byte{second.b, second.b, second.b}},
		{"both, reordered", [][]byte{second.b, first.b}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under, net, rx := dropCounts(&b.reg.Underlay), dropCounts(ctr), ctr.RxPackets.Load()
			for _, d := range tt.replay {
				b.conn.Inject(d, a.addr)
			}
			send(t, 0xf0|byte(i)) // the next frame on B's TAP: no copy came before it
			checkDropDelta(t, "B underlay", &b.reg.Underlay, under, nil)
			checkDropDelta(t, "B network", ctr, net, map[metrics.Reason]uint64{metrics.DropReplay: uint64(len(tt.replay))})
			waitCount(t, "B rx packets", ctr.RxPackets.Load, rx+1)
		})
	}
}

// TestSealedReceiveDrops injects damaged ESP datagrams into B, most of them
// from a test sender whose Inbound B has, each followed by a good one.
func TestSealedReceiveDrops(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, _ := newESPCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	tester := espSA{nc.Name, "tester", b.addr.String(), 1}
	c := espMesh(t, nodes, 1, nc)
	c.In = append(c.In, tester.in(t))
	espSetCrypto(t, b, nc.VNI, c)
	out := tester.out(t)
	stranger := espSA{nc.Name, "stranger", b.addr.String(), 1}.out(t) // B has no Inbound
	wrongKey := func() *wcrypto.Outbound {                            // the tester's SPI, another key
		o, err := wcrypto.NewOutbound(tester.spi(), espSA{"other", "tester", b.addr.String(), 1}.key())
		if err != nil {
			t.Fatal(err)
		}
		return o
	}()
	ctr := b.reg.Network(nc.Name, nc.VNI)
	frame := ether(bcast, macA, 0x77, 300)
	sealed := func() []byte { return espSeal(t, out, nc.VNI, frame) }
	with := func(f func([]byte) []byte) func() []byte { return func() []byte { return f(sealed()) } }
	ctOff := wcrypto.HeaderLen + encap.HeaderLen + 20 // a byte of the inner frame
	tests := []struct {
		name     string
		pkt      func() []byte
		underlay map[metrics.Reason]uint64
		network  map[metrics.Reason]uint64
	}{
		{"unknown SPI", func() []byte { return espSeal(t, stranger, nc.VNI, frame) }, map[metrics.Reason]uint64{metrics.DropUnknownSPI: 1}, nil},
		{"SPI rewritten", with(func(d []byte) []byte { copy(d, []byte{0x7e, 0xad, 0xbe, 0xef}); return d }), map[metrics.Reason]uint64{metrics.DropUnknownSPI: 1}, nil},
		{"known SPI, another key", func() []byte {
			for wrongKey.Seq() < out.Seq() { // a sequence number B has not seen
				espSeal(t, wrongKey, nc.VNI, frame)
			}
			return espSeal(t, wrongKey, nc.VNI, frame)
		}, nil, map[metrics.Reason]uint64{metrics.DropBadTag: 1}},
		{"ciphertext byte flipped", with(func(d []byte) []byte { d[ctOff] ^= 1; return d }), nil, map[metrics.Reason]uint64{metrics.DropBadTag: 1}},
		{"ICV byte flipped", with(func(d []byte) []byte { d[len(d)-1] ^= 0x80; return d }), nil, map[metrics.Reason]uint64{metrics.DropBadTag: 1}},
		{"sequence number rewritten", with(func(d []byte) []byte { d[7] += 100; return d }), nil, map[metrics.Reason]uint64{metrics.DropBadTag: 1}},
		{"last byte cut", with(func(d []byte) []byte { return d[:len(d)-1] }), nil, map[metrics.Reason]uint64{metrics.DropBadTag: 1}},
		{"cut below header, trailer and ICV", with(func(d []byte) []byte { return d[:wcrypto.HeaderLen+2+wcrypto.ICVLen-1] }), nil, map[metrics.Reason]uint64{metrics.DropMalformed: 1}},
		{"header only", with(func(d []byte) []byte { return d[:wcrypto.HeaderLen] }), nil, map[metrics.Reason]uint64{metrics.DropMalformed: 1}},
		{"SPI only", with(func(d []byte) []byte { return d[:4] }), nil, map[metrics.Reason]uint64{metrics.DropMalformed: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under, net := dropCounts(&b.reg.Underlay), dropCounts(ctr)
			b.conn.Inject(tt.pkt(), a.addr)
			m := ether(bcast, macA, 0xf0|byte(i), 60)
			b.conn.Inject(espSeal(t, out, nc.VNI, m), a.addr)
			expectFrame(t, b.taps[nc.VNI], m) // and nothing before it
			checkDropDelta(t, "B underlay", &b.reg.Underlay, under, tt.underlay)
			checkDropDelta(t, "B network", ctr, net, tt.network)
		})
	}
}

func TestSealedFlood(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, sniff := newESPCluster(t, 3, nc)
	a := nodes[0]
	espKeyMesh(t, nodes, nc)
	tx := a.reg.Network(nc.Name, nc.VNI)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"broadcast", ether(bcast, macA, 1, 500)},
		{"multicast", ether(mcast, macA, 2, 100)},
		{"unknown unicast", ether(macB, macA, 3, 80)},
		{"ARP request", arpRequest(macA, ipA, ipB)},
		{"largest frame", ether(bcast, macA, 4, nc.MTU+maxFrameOverhead)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, bytes, drops := tx.TxPackets.Load(), tx.TxBytes.Load(), dropCounts(tx)
			a.taps[nc.VNI].Inject(tt.frame)
			for _, peer := range nodes[1:] {
				expectFrame(t, peer.taps[nc.VNI], tt.frame)
			}
			sent := map[netip.AddrPort]espSent{}
			for range nodes[1:] {
				d := sniff[0].next(t)
				sent[d.to] = d
			}
			for _, peer := range nodes[1:] {
				d, ok := sent[peer.addr]
				if !ok {
					t.Errorf("no copy sent to %v", peer.addr)
					continue
				}
				espCheckSealed(t, d, peer.addr, espSAOf(nc, a.addr, peer.addr).spi(), uint64(i+1), tt.frame)
			}
			waitCount(t, "A tx packets", tx.TxPackets.Load, pkts+2)
			waitCount(t, "A tx bytes", tx.TxBytes.Load, bytes+2*uint64(len(tt.frame)))
			checkDropDelta(t, "A", tx, drops, nil)
			// Datagrams are sent before they are counted: all are seen.
			if n := len(sniff[0].sent); n != 0 {
				t.Errorf("A sent %d datagrams more; want 0", n)
			}
		})
	}
	for _, peer := range nodes[1:] {
		rx := peer.reg.Network(nc.Name, nc.VNI)
		waitCount(t, peer.addr.String()+" rx packets", rx.RxPackets.Load, uint64(len(tests)))
		checkDropDelta(t, peer.addr.String(), rx, nil, nil)
	}
}

// A datagram sealed for one network cannot carry frames into another.
func TestSealedCrossNetwork(t *testing.T) {
	x, y, z := espNetwork("x", 10), espNetwork("y", 11), netConfig("plain", 12)
	nodes, _ := newESPCluster(t, 2, x, y, z)
	a, b := nodes[0], nodes[1]
	testers := map[uint32]*wcrypto.Outbound{}
	for _, nc := range []NetworkConfig{x, y} {
		tester := espSA{nc.Name, "tester", b.addr.String(), 1}
		c := espMesh(t, nodes, 1, nc)
		c.In = append(c.In, tester.in(t))
		espSetCrypto(t, b, nc.VNI, c)
		testers[nc.VNI] = tester.out(t)
	}
	ctrs, names := map[uint32]*metrics.Counters{}, map[uint32]string{}
	for _, nc := range []NetworkConfig{x, y, z} {
		ctrs[nc.VNI], names[nc.VNI] = b.reg.Network(nc.Name, nc.VNI), nc.Name
	}
	tests := []struct {
		name     string
		sealedAs uint32 // whose SA seals it
		vni      uint32 // in the VXLAN header
	}{
		{"X's SA, Y's VNI", x.VNI, y.VNI},
		{"Y's SA, X's VNI", y.VNI, x.VNI},
		{"X's SA, plaintext network's VNI", x.VNI, z.VNI},
		{"X's SA, unknown VNI", x.VNI, 99},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under := dropCounts(&b.reg.Underlay)
			before := map[uint32]map[metrics.Reason]uint64{}
			for vni, c := range ctrs {
				before[vni] = dropCounts(c)
			}
			f := ether(bcast, macA, byte(i), 100)
			b.conn.Inject(espSeal(t, testers[tt.sealedAs], tt.vni, f), a.addr)
			// One frame per network, after it: none of them sees f first.
			mx, my, mz := marker(macA, 1), marker(macA, 2), marker(macA, 3)
			b.conn.Inject(espSeal(t, testers[x.VNI], x.VNI, mx), a.addr)
			b.conn.Inject(espSeal(t, testers[y.VNI], y.VNI, my), a.addr)
			b.conn.Inject(vxlan(z.VNI, mz), a.addr)
			expectFrame(t, b.taps[x.VNI], mx)
			expectFrame(t, b.taps[y.VNI], my)
			expectFrame(t, b.taps[z.VNI], mz)
			checkDropDelta(t, "B underlay", &b.reg.Underlay, under, nil)
			for vni, c := range ctrs {
				var want map[metrics.Reason]uint64
				if vni == tt.sealedAs {
					want = map[metrics.Reason]uint64{metrics.DropMalformed: 1}
				}
				checkDropDelta(t, "B network "+names[vni], c, before[vni], want)
			}
		})
	}
	t.Run("removed network's SAs", func(t *testing.T) {
		under := dropCounts(&b.reg.Underlay)
		if err := b.eng.RemoveNetwork(y.VNI); err != nil {
			t.Fatalf("RemoveNetwork(%d): %v", y.VNI, err)
		}
		for spi, in := range *b.eng.spis.Load() {
			if in.n.cfg.VNI == y.VNI {
				t.Errorf("SPI %#08x of removed network %s still indexed", spi, y.Name)
			}
		}
		b.conn.Inject(espSeal(t, testers[y.VNI], y.VNI, ether(bcast, macA, 0x20, 100)), a.addr)
		m := marker(macA, 4)
		b.conn.Inject(espSeal(t, testers[x.VNI], x.VNI, m), a.addr)
		expectFrame(t, b.taps[x.VNI], m)
		checkDropDelta(t, "B underlay", &b.reg.Underlay, under, map[metrics.Reason]uint64{metrics.DropUnknownSPI: 1})
	})
}

// SetCrypto replaces a network's SAs whole: without them it fails closed
// again, and new ones (a new key generation) take over.
func TestSetCryptoReplaces(t *testing.T) {
	nc := espNetwork("secret", 10)
	nodes, sniff := newESPCluster(t, 2, nc)
	a, b := nodes[0], nodes[1]
	espAddStatic(nodes, nc.VNI, espMACs[:2]...)
	espKeyMesh(t, nodes, nc)
	tx, rx := a.reg.Network(nc.Name, nc.VNI), b.reg.Network(nc.Name, nc.VNI)
	gen1, gen2 := espSAOf(nc, a.addr, b.addr), espSAOf(nc, a.addr, b.addr)
	gen2.gen = 2

	f1 := ether(macB, macA, 1, 100)
	a.taps[nc.VNI].Inject(f1)
	expectFrame(t, b.taps[nc.VNI], f1)
	espCheckSealed(t, sniff[0].next(t), b.addr, gen1.spi(), 1, f1)

	// B forgets its Inbound: A's next datagram is of no SA B knows.
	espSetCrypto(t, b, nc.VNI, Crypto{})
	f2 := ether(macB, macA, 2, 100)
	a.taps[nc.VNI].Inject(f2)
	espCheckSealed(t, sniff[0].next(t), b.addr, gen1.spi(), 2, f2)
	waitCount(t, "B unknown_spi drops", func() uint64 { return b.reg.Underlay.Drops(metrics.DropUnknownSPI) }, 1)

	// A forgets its Outbound: nothing is sent.
	espSetCrypto(t, a, nc.VNI, Crypto{})
	a.taps[nc.VNI].Inject(ether(macB, macA, 3, 100))
	waitCount(t, "A no_key drops", func() uint64 { return tx.Drops(metrics.DropNoKey) }, 1)

	// Generation 2 on both sides: numbered from 1 again, under a new SPI.
	if gen1.spi() == gen2.spi() {
		t.Fatalf("generations 1 and 2 derive the same SPI %#08x", gen1.spi())
	}
	espSetCrypto(t, a, nc.VNI, Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{b.addr: gen2.out(t)}})
	espSetCrypto(t, b, nc.VNI, Crypto{In: []*wcrypto.Inbound{gen2.in(t)}})
	f4 := ether(macB, macA, 4, 100)
	a.taps[nc.VNI].Inject(f4)
	expectFrame(t, b.taps[nc.VNI], f4) // f2 and f3 never arrived
	espCheckSealed(t, sniff[0].next(t), b.addr, gen2.spi(), 1, f4)
	waitCount(t, "B rx packets", rx.RxPackets.Load, 2)
	checkDropDelta(t, "A", tx, nil, map[metrics.Reason]uint64{metrics.DropNoKey: 1})
	checkDropDelta(t, "B", rx, nil, nil)
	checkDropDelta(t, "B underlay", &b.reg.Underlay, nil, map[metrics.Reason]uint64{metrics.DropUnknownSPI: 1})
}

func TestSetCryptoErrors(t *testing.T) {
	plain, sealed := netConfig("plain", 1), espNetwork("secret", 2)
	a := newCluster(t, 1, plain, sealed)[0]
	removed := espNetwork("gone", 3)
	a.addNetwork(t, removed)
	if err := a.eng.RemoveNetwork(removed.VNI); err != nil {
		t.Fatalf("RemoveNetwork: %v", err)
	}
	c := Crypto{
		Out: map[netip.AddrPort]*wcrypto.Outbound{nodeAddr(1): espSAOf(sealed, nodeAddr(0), nodeAddr(1)).out(t)},
		In:  []*wcrypto.Inbound{espSAOf(sealed, nodeAddr(1), nodeAddr(0)).in(t)},
	}
	tests := []struct {
		name string
		vni  uint32
		want string // in the error; "" for none
	}{
		{"unknown VNI", 99, "no network with VNI 99"},
		{"removed network", removed.VNI, "no network with VNI 3"},
		{"network not encrypted", plain.VNI, "network plain is not encrypted"},
		{"encrypted network", sealed.VNI, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.eng.SetCrypto(tt.vni, c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("SetCrypto(%d): got %v; want nil", tt.vni, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("SetCrypto(%d): got %v; want an error containing %q", tt.vni, err, tt.want)
			}
		})
	}
	// A failed SetCrypto installs nothing anywhere: only the sealed
	// network's Inbound is indexed.
	spis := *a.eng.spis.Load()
	if got, want := len(spis), 1; got != want {
		t.Fatalf("SPIs indexed: got %d; want %d", got, want)
	}
	if in, ok := spis[c.In[0].SPI()]; !ok || in.n.cfg.VNI != sealed.VNI {
		t.Fatalf("SPI %#08x indexed for %+v, %v; want network %d", c.In[0].SPI(), in.n, ok, sealed.VNI)
	}
	if out := *(*a.eng.nets.Load())[plain.VNI].out.Load(); len(out) != 0 {
		t.Fatalf("plaintext network has %d Outbound SAs; want 0", len(out))
	}
}

// espConn is an underlay that sends every datagram nowhere and counts
// those that are not ESP.
type espConn struct {
	discardConn
	cleartext atomic.Uint64
}

func (c *espConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, off int) (int, error) {
	for _, b := range bufs {
		if !wcrypto.IsESP(b[off:]) {
			c.cleartext.Add(1)
		}
	}
	return c.discardConn.WriteBatch(bufs, to, off)
}

// espBare is bare with an encrypted network, keyed both ways with each of
// its peers.
type espBare struct {
	e    *Engine
	n    *network
	conn *espConn
	dev  *discardTAP
	out  map[netip.AddrPort]*wcrypto.Outbound // the engine's, by peer
}

func newESPBare(tb testing.TB, peers ...netip.AddrPort) *espBare {
	tb.Helper()
	x := &espBare{conn: new(espConn), dev: new(discardTAP)}
	nc := espNetwork("secret", 1)
	nc.Peers = peers
	x.e, x.n = bareEngine(tb, x.conn, x.dev, nc)
	c := Crypto{Out: map[netip.AddrPort]*wcrypto.Outbound{}}
	for _, p := range peers {
		c.Out[p] = espSAOf(nc, nodeAddr(0), p).out(tb)
		c.In = append(c.In, espSAOf(nc, p, nodeAddr(0)).in(tb))
	}
	if err := x.e.SetCrypto(nc.VNI, c); err != nil {
		tb.Fatal(err)
	}
	x.out = c.Out
	return x
}

// seqs returns the sum of the sequence numbers of the engine's Outbounds:
// how many datagrams it sealed.
func (x *espBare) seqs() uint64 {
	var n uint64
	for _, o := range x.out {
		n += o.Seq()
	}
	return n
}

func TestSealedTransmitAllocs(t *testing.T) {
	const runs = 100
	tests := []struct {
		name  string
		frame []byte
		peers int // flood destinations, each with an SA
		setup func(*fdb.Table)
		sent  uint64 // datagrams per frame
		noKey uint64 // no_key drops per frame
	}{
		{"known unicast", ether(macB, macA, 1, 1400), 2, func(t *fdb.Table) { t.AddStatic(1, macB, nodeAddr(1)) }, 1, 0},
		{"largest frame", ether(macB, macA, 1, 1518), 2, func(t *fdb.Table) { t.AddStatic(1, macB, nodeAddr(1)) }, 1, 0},
		{"flood to two peers", ether(bcast, macA, 1, 1400), 2, nil, 2, 0},
		{"unknown unicast to eight peers", ether(macC, macA, 1, 1400), 8, nil, 8, 0},
		{"unicast without SA", ether(macC, macA, 1, 1400), 2, func(t *fdb.Table) { t.AddStatic(1, macC, nodeAddr(9)) }, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newESPBare(t, others(-1, tt.peers)...)
			if tt.setup != nil {
				tt.setup(x.e.fdb)
			}
			b := newTxBatch(batchLen, x.n.maxFrame+1)
			allocs := testing.AllocsPerRun(runs, func() {
				// Sealing encrypts in place: read the frames afresh.
				for i := range batchLen {
					b.sizes[i] = copy(b.bufs[i][Headroom:], tt.frame)
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
			if got := x.conn.cleartext.Load(); got != 0 {
				t.Errorf("datagrams sent in the clear: got %d; want 0", got)
			}
			if got, want := x.seqs(), frames*tt.sent; got != want {
				t.Errorf("datagrams sealed: got %d; want %d", got, want)
			}
			if got, want := x.n.ctr.TxPackets.Load(), frames*tt.sent; got != want {
				t.Errorf("tx packets: got %d; want %d", got, want)
			}
			checkDropDelta(t, "network", x.n.ctr, nil, map[metrics.Reason]uint64{metrics.DropNoKey: frames * tt.noKey})
		})
	}
}

func TestSealedReceiveAllocs(t *testing.T) {
	const runs = 100
	peer := nodeAddr(1)
	nc := espNetwork("secret", 1)
	frame := ether(macA, macB, 1, 1400)
	plain := vxlan(nc.VNI, frame)
	// batch returns batchLen datagrams of frame sealed by o, numbered on
	// from its last, each passed through f.
	batch := func(o *wcrypto.Outbound, f func([]byte) []byte) [][]byte {
		ds := make([][]byte, batchLen)
		for i := range ds {
			ds[i] = f(espSeal(t, o, nc.VNI, frame))
		}
		return ds
	}
	same := func(d []byte) []byte { return d }
	tests := []struct {
		name      string
		fresh     bool                             // sealed anew before every batch
		pkts      func(*wcrypto.Outbound) [][]byte // else restored before every batch
		delivered uint64
		reason    metrics.Reason
		dropped   uint64
		underlay  bool // dropped on the underlay, not the network
	}{
		{name: "sealed frame delivered", fresh: true, delivered: (runs + 1) * batchLen},
		{name: "replay drop", pkts: func(o *wcrypto.Outbound) [][]byte { return batch(o, same) },
			delivered: batchLen, reason: metrics.DropReplay, dropped: runs * batchLen},
		{name: "bad tag drop", pkts: func(o *wcrypto.Outbound) [][]byte {
			return batch(o, func(d []byte) []byte { d[len(d)-1] ^= 1; return d })
		}, reason: metrics.DropBadTag, dropped: (runs + 1) * batchLen},
		{name: "malformed drop", pkts: func(o *wcrypto.Outbound) [][]byte {
			return batch(o, func(d []byte) []byte { return d[:20] })
		}, reason: metrics.DropMalformed, dropped: (runs + 1) * batchLen},
		{name: "unknown SPI drop", pkts: func(*wcrypto.Outbound) [][]byte {
			return batch(espSA{nc.Name, "stranger", nodeAddr(0).String(), 1}.out(t), same)
		}, reason: metrics.DropUnknownSPI, dropped: (runs + 1) * batchLen, underlay: true},
		{name: "cleartext drop", pkts: func(*wcrypto.Outbound) [][]byte {
			ds := make([][]byte, batchLen)
			for i := range ds {
				ds[i] = plain
			}
			return ds
		}, reason: metrics.DropCleartext, dropped: (runs + 1) * batchLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newESPBare(t, peer)
			sender := espSAOf(nc, peer, nodeAddr(0)).out(t)
			b := rxBatchOf(nil, peer)
			var pkts [][]byte
			if !tt.fresh {
				pkts = tt.pkts(sender)
			}
			now := time.Now()
			allocs := testing.AllocsPerRun(runs, func() {
				// Receiving decrypts in place, and a fresh batch needs
				// new sequence numbers: Seal allocates nothing either.
				for i := range batchLen {
					if tt.fresh {
						copy(b.bufs[i][wcrypto.HeaderLen:], plain)
						m, err := sender.Seal(b.bufs[i], len(plain))
						if err != nil {
							t.Fatal(err)
						}
						b.sizes[i] = m
					} else {
						b.sizes[i] = copy(b.bufs[i], pkts[i])
					}
				}
				x.e.receive(b, batchLen, now)
			})
			if allocs != 0 {
				t.Errorf("allocs per batch: got %v; want 0", allocs)
			}
			if got := x.dev.written.Load(); got != tt.delivered {
				t.Errorf("frames delivered: got %d; want %d", got, tt.delivered)
			}
			if got := x.n.ctr.RxPackets.Load(); got != tt.delivered {
				t.Errorf("rx packets: got %d; want %d", got, tt.delivered)
			}
			var under, net map[metrics.Reason]uint64
			if tt.dropped > 0 && tt.underlay {
				under = map[metrics.Reason]uint64{tt.reason: tt.dropped}
			} else if tt.dropped > 0 {
				net = map[metrics.Reason]uint64{tt.reason: tt.dropped}
			}
			checkDropDelta(t, "underlay", &x.e.reg.Underlay, nil, under)
			checkDropDelta(t, "network", x.n.ctr, nil, net)
		})
	}
}
