package encap

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weftnet/weft/internal/header"
)

// superFrame builds an Ethernet frame carrying one TCP or UDP packet of
// payload bytes, with gopacket, as a TAP hands a GSO super-frame over: the
// IP length set, the transport checksum left to do.
func superFrame(t testing.TB, v6, udp bool, payload []byte, flags func(*layers.TCP)) ([]byte, GSO) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	l4Start := header.EthernetLen + header.IPv4MinLen
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		l4Start = header.EthernetLen + header.IPv6Len
	} else {
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0xfffe, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: net.IP{198, 19, 0, 1}, DstIP: net.IP{198, 19, 0, 2}}
	}
	var l4 gopacket.SerializableLayer
	g := GSO{CsumStart: l4Start, NeedsCsum: true}
	if udp {
		u := &layers.UDP{SrcPort: 5000, DstPort: 6000}
		_ = u.SetNetworkLayerForChecksum(ip)
		l4, g.Type, g.CsumOffset = u, header.GSOUDPL4, header.UDPChecksumOffset
	} else {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 0xfffffff0, Ack: 77, ACK: true, Window: 512,
			Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}, {OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}}
		if flags != nil {
			flags(tcp)
		}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4, g.Type, g.CsumOffset = tcp, header.GSOTCPv4, header.TCPChecksumOffset
		if v6 {
			g.Type = header.GSOTCPv6
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip.(gopacket.SerializableLayer), l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), g
}

// checkSegment decodes a segment with gopacket and checks that its IP and
// transport checksums are right, by recomputing them over the decoded
// layers.
func checkSegment(t *testing.T, seg []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(seg, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("segment does not decode: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(p.NetworkLayer())
			ls = append(ls, l)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(p.NetworkLayer())
			ls = append(ls, l)
		case gopacket.SerializableLayer:
			ls = append(ls, l)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), seg) {
		t.Fatalf("segment differs from its headers recomputed by gopacket:\n got %x\nwant %x", seg[:min(len(seg), 80)], buf.Bytes()[:min(len(buf.Bytes()), 80)])
	}
	return p
}

func splitAll(t *testing.T, frame []byte, g GSO) [][]byte {
	t.Helper()
	const offset = 24
	dst := make([][]byte, 64)
	for i := range dst {
		dst[i] = make([]byte, offset+header.EthernetLen+header.IPv6Len+60+g.Size+8)
	}
	sizes := make([]int, len(dst))
	n, err := Split(frame, g, dst, sizes, offset)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	out := make([][]byte, n)
	for i := range n {
		out[i] = dst[i][offset : offset+sizes[i]]
	}
	return out
}

func TestSplitTCP(t *testing.T) {
	payload := make([]byte, 9000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	tests := []struct {
		name  string
		v6    bool
		mss   int
		n     int
		flags func(*layers.TCP)
	}{
		{"IPv4, MSS 1448, last short", false, 1448, 9000, nil},
		{"IPv4, odd MSS", false, 1001, 9000, nil},
		{"IPv4, exact multiple", false, 1500, 9000, nil},
		{"IPv4, one segment", false, 1448, 700, nil},
		{"IPv4, PSH FIN CWR", false, 1448, 5000, func(t *layers.TCP) { t.PSH, t.FIN, t.CWR = true, true, true }},
		{"IPv6", true, 1428, 9000, func(t *layers.TCP) { t.PSH = true }},
		{"IPv6, odd MSS", true, 977, 4001, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, g := superFrame(t, tt.v6, false, payload[:tt.n], tt.flags)
			g.Size = tt.mss
			orig := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
			segs := splitAll(t, frame, g)
			if want := (tt.n + tt.mss - 1) / tt.mss; len(segs) != want {
				t.Fatalf("segments: got %d; want %d", len(segs), want)
			}
			var joined []byte
			for i, seg := range segs {
				p := checkSegment(t, seg)
				tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				last := i == len(segs)-1
				if want := orig.Seq + uint32(i*tt.mss); tcp.Seq != want {
					t.Errorf("segment %d: seq %d; want %d", i, tcp.Seq, want)
				}
				if tcp.FIN != (orig.FIN && last) || tcp.PSH != (orig.PSH && last) || tcp.CWR != (orig.CWR && i == 0) || !tcp.ACK {
					t.Errorf("segment %d: FIN %v PSH %v CWR %v ACK %v; want FIN/PSH on the last only, CWR on the first only", i, tcp.FIN, tcp.PSH, tcp.CWR, tcp.ACK)
				}
				if len(tcp.Options) != len(orig.Options) {
					t.Errorf("segment %d: %d TCP options; want %d", i, len(tcp.Options), len(orig.Options))
				}
				if !last && len(tcp.Payload) != tt.mss {
					t.Errorf("segment %d: %d payload bytes; want %d", i, len(tcp.Payload), tt.mss)
				}
				if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip4.Id != uint16(0xfffe+i) {
					t.Errorf("segment %d: IP ID %#x; want %#x", i, ip4.Id, uint16(0xfffe+i))
				}
				joined = append(joined, tcp.Payload...)
			}
			if !bytes.Equal(joined, payload[:tt.n]) {
				t.Errorf("payloads joined differ from the super-frame's")
			}
		})
	}
}

func TestSplitUDP(t *testing.T) {
	payload := bytes.Repeat([]byte("weft"), 1000)
	for _, v6 := range []bool{false, true} {
		frame, g := superFrame(t, v6, true, payload, nil)
		g.Size = 1350
		segs := splitAll(t, frame, g)
		if len(segs) != 3 {
			t.Fatalf("v6=%v: %d segments; want 3", v6, len(segs))
		}
		var joined []byte
		for _, seg := range segs {
			joined = append(joined, checkSegment(t, seg).Layer(layers.LayerTypeUDP).(*layers.UDP).Payload...)
		}
		if !bytes.Equal(joined, payload) {
			t.Errorf("v6=%v: payloads joined differ", v6)
		}
	}
}

// TestSplitCompletesChecksum: a frame with no segmentation but a partial
// checksum (the pseudo-header sum, as Linux leaves it) goes out complete.
func TestSplitCompletesChecksum(t *testing.T) {
	frame, g := superFrame(t, false, false, []byte("hello"), nil)
	// Leave only the pseudo-header sum in the field, as the kernel does.
	p := segmentable{ipStart: header.EthernetLen}
	l4 := frame[g.CsumStart:]
	header.TCP(l4).SetChecksum(fold(p.pseudo(frame, len(l4))))
	g.Type = header.GSONone
	segs := splitAll(t, frame, g)
	checkSegment(t, segs[0])
}

func TestSplitRejects(t *testing.T) {
	frame, g := superFrame(t, false, false, make([]byte, 3000), nil)
	g.Size = 1000
	v6frame, g6 := superFrame(t, true, false, make([]byte, 3000), nil)
	g6.Size = 1000
	tests := []struct {
		name  string
		frame []byte
		g     GSO
	}{
		{"no size", frame, GSO{Type: header.GSOTCPv4, CsumStart: g.CsumStart}},
		{"wrong l4 start", frame, GSO{Type: header.GSOTCPv4, Size: 1000, CsumStart: g.CsumStart + 4}},
		{"v6 type on v4", frame, GSO{Type: header.GSOTCPv6, Size: 1000, CsumStart: g.CsumStart}},
		{"v4 type on v6", v6frame, GSO{Type: header.GSOTCPv4, Size: 1000, CsumStart: g6.CsumStart}},
		{"UDP type on TCP", frame, GSO{Type: header.GSOUDPL4, Size: 1000, CsumStart: g.CsumStart}},
		{"runt", frame[:30], g},
		{"too many segments", frame, GSO{Type: header.GSOTCPv4, Size: 10, CsumStart: g.CsumStart}},
	}
	for _, tt := range tests {
		dst := [][]byte{make([]byte, 4000), make([]byte, 4000), make([]byte, 4000)}
		if n, err := Split(tt.frame, tt.g, dst, make([]int, 3), 0); err == nil {
			t.Errorf("%s: Split = %d, nil; want an error", tt.name, n)
		}
	}
}

func TestSplitAllocs(t *testing.T) {
	frame, g := superFrame(t, false, false, make([]byte, 60000), nil)
	g.Size = 1448
	dst, sizes := segmentBuffers()
	if n := testing.AllocsPerRun(100, func() { _, _ = Split(frame, g, dst, sizes, 0) }); n != 0 {
		t.Errorf("Split allocates %v times per call; want 0", n)
	}
}

// segmentBuffers returns room for the segments of a 64 KB super-frame.
func segmentBuffers() ([][]byte, []int) {
	dst := make([][]byte, 64)
	for i := range dst {
		dst[i] = make([]byte, 1600)
	}
	return dst, make([]int, 64)
}

func BenchmarkSplit(b *testing.B) {
	frame, g := superFrame(b, false, false, make([]byte, 64000), nil)
	g.Size = 1448
	dst, sizes := segmentBuffers()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(frame, g, dst, sizes, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSplit feeds arbitrary frames and GSO descriptions to Split: it must
// never panic, and what it writes stays within the buffers.
func FuzzSplit(f *testing.F) {
	frame, g := superFrame(f, false, false, make([]byte, 3000), nil)
	f.Add(frame, uint8(g.Type), uint16(1000), uint16(g.CsumStart), uint16(g.CsumOffset), true)
	v6, g6 := superFrame(f, true, true, make([]byte, 2000), nil)
	f.Add(v6, uint8(g6.Type), uint16(700), uint16(g6.CsumStart), uint16(g6.CsumOffset), true)
	f.Fuzz(func(t *testing.T, frame []byte, typ uint8, size, start, off uint16, needs bool) {
		dst := make([][]byte, 8)
		for i := range dst {
			dst[i] = make([]byte, 2048)
		}
		sizes := make([]int, 8)
		g := GSO{Type: header.GSOType(typ), Size: int(size), CsumStart: int(start), CsumOffset: int(off), NeedsCsum: needs}
		n, err := Split(frame, g, dst, sizes, 16)
		if err != nil {
			return
		}
		for i := range n {
			if sizes[i] < 0 || 16+sizes[i] > len(dst[i]) {
				t.Fatalf("segment %d of size %d overflows its buffer", i, sizes[i])
			}
		}
	})
}

// TestSplitFromInTurns: splitting a frame in turns of a few buffers gives
// the segments one Split gives, and SplitFrom refuses a start past the end
// and a frame that asks for no segmentation.
func TestSplitFromInTurns(t *testing.T) {
	frame, g := superFrame(t, false, false, make([]byte, 5000), nil)
	g.Size = 700
	whole := splitAll(t, frame, g)
	dst, sizes := segmentBuffers()
	var got [][]byte
	for first := 0; first < len(whole); {
		k, count, err := SplitFrom(frame, g, first, dst[:3], sizes, 0)
		if err != nil || count != len(whole) {
			t.Fatalf("SplitFrom(%d) = %d, %d, %v; want up to 3, %d, nil", first, k, count, err, len(whole))
		}
		for j := range k {
			got = append(got, bytes.Clone(dst[j][:sizes[j]]))
		}
		first += k
	}
	if len(got) != len(whole) {
		t.Fatalf("segments: got %d; want %d", len(got), len(whole))
	}
	for i := range whole {
		if !bytes.Equal(got[i], whole[i]) {
			t.Errorf("segment %d differs from Split's", i)
		}
	}
	if _, _, err := SplitFrom(frame, g, len(whole), dst, sizes, 0); !errors.Is(err, ErrGSO) {
		t.Errorf("SplitFrom past the last segment: got %v; want ErrGSO", err)
	}
	if _, _, err := SplitFrom(frame, GSO{CsumStart: g.CsumStart, CsumOffset: 16, NeedsCsum: true}, 0, dst, sizes, 0); !errors.Is(err, ErrGSO) {
		t.Errorf("SplitFrom without segmentation: got %v; want ErrGSO", err)
	}
}
