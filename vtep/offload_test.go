package vtep

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
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
	tap.VnetHdr{Flags: tap.VnetNeedsCsum, GSOType: tap.VnetGSOTCPv4, HdrLen: 54, GSOSize: mss, CsumStart: 34, CsumOffset: 16}.Put(b.bufs[0][Headroom-tap.VnetHdrLen:])
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
