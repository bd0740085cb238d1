package vtep

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// capturingConn keeps a copy of every datagram sent.
type capturingConn struct {
	discardConn
	got [][]byte
}

func (c *capturingConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, off int) (int, error) {
	for _, b := range bufs {
		c.got = append(c.got, bytes.Clone(b[off:]))
	}
	return c.discardConn.WriteBatch(bufs, to, off)
}

// offloadTAP is a discarding TAP that says it was opened WithOffload.
type offloadTAP struct{ discardTAP }

func (*offloadTAP) Offloaded() bool { return true }

// TestOffloadedSuperFrameIsSplit: a TCP super-frame from an offloaded TAP,
// with its virtio-net header, leaves as MSS-sized VXLAN datagrams whose
// inner segments carry complete checksums.
func TestOffloadedSuperFrameIsSplit(t *testing.T) {
	conn := &capturingConn{}
	e := New(DefaultConfig(), conn, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	nc := netConfig("blue", 1)
	dev := &offloadTAP{}
	if err := e.AddNetwork(nc, dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	n := (*e.nets.Load())[nc.VNI]
	<-n.done
	if !n.offload {
		t.Fatal("the network did not see its TAP as offloaded")
	}
	e.fdb.AddStatic(1, macB, nodeAddr(1))

	payload := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macA[:]), DstMAC: net.HardwareAddr(macB[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 0, 1}, DstIP: net.IP{198, 19, 0, 2}}
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 100, ACK: true, PSH: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	frame := sb.Bytes()
	const mss = 1400
	b := newTxBatch(4, maxSuperFrame)
	b.segLen, b.segSizes = n.maxFrame+1, make([]int, 4)
	b.sizes[0] = copy(b.bufs[0][Headroom:], frame)
	tap.VnetHdr{Flags: tap.VnetNeedsCsum, GSOType: header.GSOTCPv4, HdrLen: 54, GSOSize: mss, CsumStart: 34, CsumOffset: 16}.Put(b.bufs[0][Headroom-tap.VnetHdrLen:])
	e.transmit(n, b, 1)

	if want := (len(payload) + mss - 1) / mss; len(conn.got) != want {
		t.Fatalf("datagrams sent: %d; want %d", len(conn.got), want)
	}
	var joined []byte
	for i, d := range conn.got {
		vni, inner, st := encap.Decap(d)
		if st != encap.OK || vni != 1 {
			t.Fatalf("datagram %d: %v, VNI %d", i, st, vni)
		}
		p := gopacket.NewPacket(inner, layers.LayerTypeEthernet, gopacket.Default)
		seg, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if seg == nil {
			t.Fatalf("datagram %d carries no TCP segment", i)
		}
		if err := seg.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
			t.Fatal(err)
		}
		want := gopacket.NewSerializeBuffer()
		_ = gopacket.SerializeLayers(want, gopacket.SerializeOptions{ComputeChecksums: true}, seg, gopacket.Payload(seg.Payload))
		if got := inner[34 : 34+len(want.Bytes())]; !bytes.Equal(got, want.Bytes()) {
			t.Errorf("segment %d: TCP checksum %#x is not what gopacket computes", i, seg.Checksum)
		}
		joined = append(joined, seg.Payload...)
	}
	if !bytes.Equal(joined, payload) {
		t.Errorf("segments joined differ from the super-frame's payload")
	}
	if d := n.ctr.Drops(metrics.DropMalformed); d != 0 {
		t.Errorf("malformed drops: %d; want 0", d)
	}
}

// recordingOffloadTAP keeps every frame written with its virtio-net header.
type recordingOffloadTAP struct {
	offloadTAP
	got [][]byte
}

func (d *recordingOffloadTAP) Write(bufs [][]byte, off int) (int, error) {
	for _, b := range bufs {
		d.got = append(d.got, bytes.Clone(b[off-tap.VnetHdrLen:]))
	}
	return len(bufs), nil
}

// TestOffloadedReceiveCoalesces: consecutive TCP segments received in one
// batch reach an offloaded TAP as one super-frame with a GSO header; a
// frame that is not part of a run gets a zero header.
func TestOffloadedReceiveCoalesces(t *testing.T) {
	e := New(DefaultConfig(), &discardConn{}, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	dev := &recordingOffloadTAP{}
	if err := e.AddNetwork(netConfig("blue", 1), dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })

	payload := bytes.Repeat([]byte("abcdefghij"), 400) // 4000 bytes: 1400+1400+1200
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macB[:]), DstMAC: net.HardwareAddr(macA[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 0, 2}, DstIP: net.IP{198, 19, 0, 1}}
	tcp := &layers.TCP{SrcPort: 2, DstPort: 1, Seq: 100, ACK: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	segs := make([][]byte, 4)
	for i := range segs {
		segs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 4)
	k, err := encap.Split(sb.Bytes(), encap.GSO{Type: header.GSOTCPv4, Size: 1400, CsumStart: 34, CsumOffset: 16, NeedsCsum: true}, segs, sizes, 0)
	if err != nil || k != 3 {
		t.Fatalf("Split = %d, %v", k, err)
	}
	lone := ether(bcast, macB, 1, 60)
	b := newRxBatch(4, 2048)
	for i := range k {
		b.sizes[i] = copy(b.bufs[i], vxlan(1, segs[i][:sizes[i]]))
	}
	b.sizes[3] = copy(b.bufs[3], vxlan(1, lone))
	e.receive(b, 4, time.Now())

	if len(dev.got) != 2 {
		t.Fatalf("TAP writes: %d; want 2 (one super-frame, one lone frame)", len(dev.got))
	}
	h, err := tap.ParseVnetHdr(dev.got[0], len(dev.got[0])-tap.VnetHdrLen)
	if err != nil || h.GSOType != header.GSOTCPv4 || h.GSOSize != 1400 || h.CsumStart != 34 || h.HdrLen != 54 {
		t.Fatalf("super-frame header %+v, %v; want TCPv4, 1400, checksum at 34, headers 54", h, err)
	}
	p := gopacket.NewPacket(dev.got[0][tap.VnetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
	if got := p.Layer(layers.LayerTypeTCP).(*layers.TCP); !bytes.Equal(got.Payload, payload) || got.Seq != 100 {
		t.Errorf("super-frame carries %d bytes from seq %d; want %d from 100", len(got.Payload), got.Seq, len(payload))
	}
	if !bytes.Equal(dev.got[1][:tap.VnetHdrLen], make([]byte, tap.VnetHdrLen)) || !bytes.Equal(dev.got[1][tap.VnetHdrLen:], lone) {
		t.Errorf("lone frame written as %x; want a zero header and the frame", dev.got[1][:20])
	}
}

// tcpSuperFrame returns an Ethernet/IPv4/TCP frame from macB to macA with
// payloadLen bytes of payload and correct checksums.
func tcpSuperFrame(t *testing.T, payloadLen int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macB[:]), DstMAC: net.HardwareAddr(macA[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 0, 2}, DstIP: net.IP{198, 19, 0, 1}}
	tcp := &layers.TCP{SrcPort: 2, DstPort: 1, Seq: 100, ACK: true, Window: 1000}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(bytes.Repeat([]byte{7}, payloadLen))); err != nil {
		t.Fatal(err)
	}
	return sb.Bytes()
}

// offloadedTx returns an engine with one network on an offloaded TAP that
// sends macA's frames to a peer over conn, and a transmit batch of 4
// frames for it.
func offloadedTx(t *testing.T) (*Engine, *network, *txBatch, *discardConn) {
	t.Helper()
	conn := &discardConn{}
	e := New(DefaultConfig(), conn, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	if err := e.AddNetwork(netConfig("blue", 1), &offloadTAP{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	n := (*e.nets.Load())[1]
	<-n.done
	e.fdb.AddStatic(1, macA, nodeAddr(1))
	b := newTxBatch(4, maxSuperFrame)
	b.segLen, b.segSizes = n.maxFrame+1, make([]int, 4)
	return e, n, b, conn
}

// The offloaded paths allocate nothing per batch once warm: splitting a
// super-frame into segments on transmit, and coalescing segments on
// receive.
func TestOffloadedPathsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under -race")
	}
	const runs, mss = 100, 1400
	frame := tcpSuperFrame(t, 20000)
	segsPerFrame := (20000 + mss - 1) / mss
	g := encap.GSO{Type: header.GSOTCPv4, Size: mss, CsumStart: 34, CsumOffset: 16, NeedsCsum: true}

	t.Run("transmit: split", func(t *testing.T) {
		e, n, b, conn := offloadedTx(t)
		for i := range 4 {
			b.sizes[i] = copy(b.bufs[i][Headroom:], frame)
			tap.VnetHdr{Flags: tap.VnetNeedsCsum, GSOType: header.GSOTCPv4, HdrLen: 54, GSOSize: mss, CsumStart: 34, CsumOffset: 16}.Put(b.bufs[i][Headroom-tap.VnetHdrLen:])
		}
		if allocs := testing.AllocsPerRun(runs, func() { e.transmit(n, b, 4) }); allocs != 0 {
			t.Errorf("allocs per batch of 4 super-frames: %v; want 0", allocs)
		}
		if got, want := conn.sent.Load(), uint64((runs+1)*4*segsPerFrame); got != want {
			t.Errorf("datagrams sent: %d; want %d", got, want)
		}
	})

	t.Run("receive: coalesce", func(t *testing.T) {
		e := New(DefaultConfig(), &discardConn{}, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
		dev := &offloadTAP{}
		if err := e.AddNetwork(netConfig("blue", 1), dev); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		segs, sizes := make([][]byte, segsPerFrame), make([]int, segsPerFrame)
		for i := range segs {
			segs[i] = make([]byte, 1600)
		}
		if k, err := encap.Split(frame, g, segs, sizes, 0); err != nil || k != segsPerFrame {
			t.Fatalf("Split = %d, %v", k, err)
		}
		b := newRxBatch(segsPerFrame, 2048)
		for i := range segsPerFrame {
			b.sizes[i] = copy(b.bufs[i], vxlan(1, segs[i][:sizes[i]]))
		}
		now := time.Now()
		if allocs := testing.AllocsPerRun(runs, func() { e.receive(b, segsPerFrame, now) }); allocs != 0 {
			t.Errorf("allocs per batch of %d segments: %v; want 0", segsPerFrame, allocs)
		}
		if got, want := dev.written.Load(), uint64(runs+1); got != want {
			t.Errorf("TAP writes: %d; want %d, one super-frame per batch", got, want)
		}
	})
}

// TestOffloadedReceiveDropsBadChecksum: a received TCP segment whose
// payload no longer matches its checksum is not coalesced with its
// neighbours (the kernel would compute the super-frame's checksum afresh
// and accept the damage) but dropped and counted; the segments around it
// still reach the TAP, the ones after it coalesced.
func TestOffloadedReceiveDropsBadChecksum(t *testing.T) {
	e := New(DefaultConfig(), &discardConn{}, fdb.New(), metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	dev := &recordingOffloadTAP{}
	if err := e.AddNetwork(netConfig("blue", 1), dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	const mss, count = 1400, 4
	segs, sizes := make([][]byte, count), make([]int, count)
	for i := range segs {
		segs[i] = make([]byte, 1600)
	}
	g := encap.GSO{Type: header.GSOTCPv4, Size: mss, CsumStart: 34, CsumOffset: 16, NeedsCsum: true}
	if k, err := encap.Split(tcpSuperFrame(t, mss*count), g, segs, sizes, 0); err != nil || k != count {
		t.Fatalf("Split = %d, %v", k, err)
	}
	b := newRxBatch(count, 2048)
	for i := range count {
		b.sizes[i] = copy(b.bufs[i], vxlan(1, segs[i][:sizes[i]]))
	}
	b.bufs[1][b.sizes[1]-1] ^= 0x40 // the last payload byte of segment 1
	e.receive(b, count, time.Now())

	n := (*e.nets.Load())[1]
	if got := n.ctr.Drops(metrics.DropBadChecksum); got != 1 {
		t.Errorf("bad_checksum drops: got %d; want 1", got)
	}
	if len(dev.got) != 2 {
		t.Fatalf("TAP writes: got %d; want 2 (segment 0 alone, segments 2 and 3 coalesced)", len(dev.got))
	}
	if got, want := dev.got[0][tap.VnetHdrLen:], segs[0][:sizes[0]]; !bytes.Equal(dev.got[0][:tap.VnetHdrLen], make([]byte, tap.VnetHdrLen)) || !bytes.Equal(got, want) {
		t.Errorf("first write: %d bytes; want segment 0 (%d bytes) with a zero header", len(got), len(want))
	}
	h, err := tap.ParseVnetHdr(dev.got[1], len(dev.got[1])-tap.VnetHdrLen)
	p := gopacket.NewPacket(dev.got[1][tap.VnetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if err != nil || h.GSOType != header.GSOTCPv4 || tcp == nil || len(tcp.Payload) != 2*mss || tcp.Seq != 100+2*mss {
		t.Fatalf("second write: header %+v, %v, TCP %v; want a TCPv4 super-frame of %d bytes from seq %d", h, err, tcp != nil, 2*mss, 100+2*mss)
	}
	if got := n.ctr.RxPackets.Load(); got != 2 {
		t.Errorf("rx packets: got %d; want 2", got)
	}
}

// segBytes is how many bytes of segment buffers the batch keeps.
func (b *txBatch) segBytes() int {
	total := 0
	for _, s := range b.segs {
		total += cap(s)
	}
	return total
}

// TestTinyGSOSizeKeepsLittle: a super-frame whose virtio-net header asks
// for 1-byte segments is split and sent in full, but the transmit batch
// does not keep a segment buffer per segment: what it holds afterwards
// stays bounded (before, 20000 segments kept 20000 full-sized buffers,
// about 33 MB; a 64 KB frame, about 100 MB).
func TestTinyGSOSizeKeepsLittle(t *testing.T) {
	const payload, bound = 20000, 512 << 10
	e, n, b, conn := offloadedTx(t)
	b.sizes[0] = copy(b.bufs[0][Headroom:], tcpSuperFrame(t, payload))
	tap.VnetHdr{Flags: tap.VnetNeedsCsum, GSOType: header.GSOTCPv4, HdrLen: 54, GSOSize: 1, CsumStart: 34, CsumOffset: 16}.Put(b.bufs[0][Headroom-tap.VnetHdrLen:])
	e.transmit(n, b, 1)

	if got := conn.sent.Load(); got != payload {
		t.Errorf("datagrams sent: got %d; want %d, one per payload byte", got, payload)
	}
	if got := n.ctr.Drops(metrics.DropMalformed); got != 0 {
		t.Errorf("malformed drops: got %d; want 0", got)
	}
	if got := b.segBytes(); got > bound {
		t.Errorf("segment buffers kept: got %d bytes in %d buffers; want at most %d bytes", got, len(b.segs), bound)
	}
}
