package header

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The tests check every view against gopacket: frames built by gopacket
// read back through the views, and frames written through the views decode
// in gopacket as written.

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// serialize builds a frame of ls with gopacket, lengths and checksums
// filled in.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decode decodes b as the one layer l with gopacket, failing on any error,
// and returns l.
func decode[L gopacket.DecodingLayer](t testing.TB, l L, b []byte) L {
	t.Helper()
	if err := l.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("gopacket cannot decode % x as %v: %v", b, l.CanDecode(), err)
	}
	return l
}

// payload is long enough that gopacket does not pad a frame that carries it.
var payload = gopacket.Payload(bytes.Repeat([]byte("payload "), 8))

func ethernet(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{DstMAC: net.HardwareAddr(macB[:]), SrcMAC: net.HardwareAddr(macA[:]), EthernetType: typ}
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a
}

func TestConstants(t *testing.T) {
	ip := &layers.IPv4{Version: 4, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}}
	tcp, udp := &layers.TCP{}, &layers.UDP{}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	_ = udp.SetNetworkLayerForChecksum(ip)
	for _, tt := range []struct {
		name      string
		got, want int
	}{
		{"EtherTypeIPv4", EtherTypeIPv4, int(layers.EthernetTypeIPv4)},
		{"EtherTypeIPv6", EtherTypeIPv6, int(layers.EthernetTypeIPv6)},
		{"EtherTypeARP", EtherTypeARP, int(layers.EthernetTypeARP)},
		{"ProtocolTCP", ProtocolTCP, int(layers.IPProtocolTCP)},
		{"ProtocolUDP", ProtocolUDP, int(layers.IPProtocolUDP)},
		{"IPv4DontFragment", IPv4DontFragment, int(layers.IPv4DontFragment)},
		{"IPv4MoreFragments", IPv4MoreFragments, int(layers.IPv4MoreFragments)},
		{"EthernetLen", EthernetLen, len(serialize(t, ethernet(layers.EthernetTypeIPv4), payload)) - len(payload)},
		{"IPv4MinLen", IPv4MinLen, len(serialize(t, ip))},
		{"IPv6Len", IPv6Len, len(serialize(t, &layers.IPv6{Version: 6, SrcIP: net.IPv6loopback, DstIP: net.IPv6loopback}))},
		{"TCPMinLen", TCPMinLen, len(serialize(t, tcp))},
		{"UDPLen", UDPLen, len(serialize(t, udp))},
		{"ARPLen", ARPLen, len(serialize(t, arpLayer(ARPRequest)))},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %#x; want %#x", tt.name, tt.got, tt.want)
		}
	}
}

func TestEthernet(t *testing.T) {
	frame := serialize(t, ethernet(layers.EthernetTypeIPv6), payload)
	want := decode(t, &layers.Ethernet{}, frame)
	e, ok := ParseEthernet(frame)
	switch {
	case !ok:
		t.Fatal("ParseEthernet: got false; want true")
	case e.Destination() != [6]byte(want.DstMAC):
		t.Errorf("Destination: got %x; want %x", e.Destination(), want.DstMAC)
	case e.Source() != [6]byte(want.SrcMAC):
		t.Errorf("Source: got %x; want %x", e.Source(), want.SrcMAC)
	case e.Type() != uint16(want.EthernetType):
		t.Errorf("Type: got %#x; want %#x", e.Type(), want.EthernetType)
	case !bytes.Equal(e.Payload(), want.Payload):
		t.Errorf("Payload: got %q; want %q", e.Payload(), want.Payload)
	}
	if _, ok := ParseEthernet(frame[:EthernetLen-1]); ok {
		t.Error("ParseEthernet of 13 bytes: got true; want false")
	}

	// Written through the view, read by gopacket.
	w := Ethernet(make([]byte, EthernetLen))
	w.SetDestination(macA)
	w.SetSource(macB)
	w.SetType(EtherTypeARP)
	got := decode(t, &layers.Ethernet{}, w)
	if !bytes.Equal(got.DstMAC, macA[:]) || !bytes.Equal(got.SrcMAC, macB[:]) || got.EthernetType != layers.EthernetTypeARP {
		t.Errorf("set: gopacket reads %v > %v type %v; want %x > %x type ARP", got.SrcMAC, got.DstMAC, got.EthernetType, macB, macA)
	}
}

func arpLayer(op uint16) *layers.ARP {
	return &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: macA[:], SourceProtAddress: []byte{10, 0, 0, 1},
		DstHwAddress: macB[:], DstProtAddress: []byte{10, 0, 0, 2},
	}
}

func TestARP(t *testing.T) {
	for _, op := range []uint16{ARPRequest, ARPReply} {
		frame := serialize(t, ethernet(layers.EthernetTypeARP), arpLayer(op))
		want := decode(t, &layers.ARP{}, Ethernet(frame).Payload())
		a, ok := ParseARP(Ethernet(frame).Payload())
		switch {
		case !ok:
			t.Fatalf("op %d: ParseARP: got false; want true", op)
		case a.Op() != want.Operation:
			t.Errorf("Op: got %d; want %d", a.Op(), want.Operation)
		case a.SenderMAC() != [6]byte(want.SourceHwAddress):
			t.Errorf("SenderMAC: got %x; want %x", a.SenderMAC(), want.SourceHwAddress)
		case a.SenderIP() != addr(want.SourceProtAddress):
			t.Errorf("SenderIP: got %v; want %v", a.SenderIP(), addr(want.SourceProtAddress))
		case a.TargetMAC() != [6]byte(want.DstHwAddress):
			t.Errorf("TargetMAC: got %x; want %x", a.TargetMAC(), want.DstHwAddress)
		case a.TargetIP() != addr(want.DstProtAddress):
			t.Errorf("TargetIP: got %v; want %v", a.TargetIP(), addr(want.DstProtAddress))
		}
	}
	rejects := []struct {
		name string
		l    *layers.ARP
	}{
		{"IPv6 over Ethernet", &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv6, HwAddressSize: 6, ProtAddressSize: 16,
			Operation: 1, SourceHwAddress: macA[:], SourceProtAddress: make([]byte, 16), DstHwAddress: macB[:], DstProtAddress: make([]byte, 16)}},
		{"not Ethernet", &layers.ARP{AddrType: layers.LinkType(6), // IEEE 802
			Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: macA[:], SourceProtAddress: make([]byte, 4), DstHwAddress: macB[:], DstProtAddress: make([]byte, 4)}},
	}
	for _, tt := range rejects {
		if _, ok := ParseARP(serialize(t, tt.l)); ok {
			t.Errorf("ParseARP of %s: got true; want false", tt.name)
		}
	}
	if _, ok := ParseARP(serialize(t, arpLayer(1))[:ARPLen-1]); ok {
		t.Error("ParseARP of 27 bytes: got true; want false")
	}

	// Written through the view, on a dirty buffer, read by gopacket.
	a := ARP(bytes.Repeat([]byte{0xee}, ARPLen))
	a.Init(ARPReply)
	a.SetSenderMAC(macB)
	a.SetSenderIP(netip.MustParseAddr("10.0.0.2"))
	a.SetTargetMAC(macA)
	a.SetTargetIP(netip.MustParseAddr("10.0.0.1"))
	want := arpLayer(ARPReply)
	want.SourceHwAddress, want.DstHwAddress = macB[:], macA[:]
	want.SourceProtAddress, want.DstProtAddress = want.DstProtAddress, want.SourceProtAddress
	if wb := serialize(t, want); !bytes.Equal(a, wb) {
		t.Errorf("set: got % x; want % x", []byte(a), wb)
	}
}

func TestIPv4(t *testing.T) {
	src, dst := net.IP{198, 19, 0, 1}, net.IP{198, 19, 0, 2}
	tests := []struct {
		name string
		ip   *layers.IPv4
	}{
		{"plain", &layers.IPv4{Version: 4, TOS: 0x2e, Id: 0x1234, Flags: layers.IPv4DontFragment, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}},
		{"options", &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst,
			Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}},
		{"fragment", &layers.IPv4{Version: 4, Id: 0xffff, Flags: layers.IPv4MoreFragments, FragOffset: 185, TTL: 255, Protocol: 253, SrcIP: dst, DstIP: src}},
		{"first fragment", &layers.IPv4{Version: 4, Flags: layers.IPv4MoreFragments, TTL: 2, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}},
		{"last fragment", &layers.IPv4{Version: 4, Flags: layers.IPv4DontFragment, FragOffset: 8191, TTL: 3, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := serialize(t, ethernet(layers.EthernetTypeIPv4), tt.ip, payload)
			want := decode(t, &layers.IPv4{}, Ethernet(frame).Payload())
			ip, ok := ParseIPv4(Ethernet(frame).Payload())
			if !ok {
				t.Fatal("ParseIPv4: got false; want true")
			}
			checkFields(t, []field{
				{"Version", uint64(ip.Version()), uint64(want.Version)},
				{"HeaderLen", uint64(ip.HeaderLen()), uint64(want.IHL) * 4},
				{"TOS", uint64(ip.TOS()), uint64(want.TOS)},
				{"TotalLen", uint64(ip.TotalLen()), uint64(want.Length)},
				{"ID", uint64(ip.ID()), uint64(want.Id)},
				{"Flags", uint64(ip.Flags()), uint64(want.Flags)},
				{"FragmentOffset", uint64(ip.FragmentOffset()), uint64(want.FragOffset) * 8},
				{"IsFragment", b2u(ip.IsFragment()), b2u(want.Flags&layers.IPv4MoreFragments != 0 || want.FragOffset != 0)},
				{"TTL", uint64(ip.TTL()), uint64(want.TTL)},
				{"Protocol", uint64(ip.Protocol()), uint64(want.Protocol)},
				{"Checksum", uint64(ip.Checksum()), uint64(want.Checksum)},
			})
			checkBytes(t, "Source", ip.Source().AsSlice(), want.SrcIP.To4())
			checkBytes(t, "Destination", ip.Destination().AsSlice(), want.DstIP.To4())
			checkBytes(t, "Addresses", ip.Addresses(), append(bytes.Clone(want.SrcIP.To4()), want.DstIP.To4()...))
			checkBytes(t, "Header", ip.Header(), want.Contents)
			checkBytes(t, "Options", ip.Options(), want.Contents[IPv4MinLen:])
			checkBytes(t, "Payload", ip.Payload(), want.Payload)

			ip.SetTotalLen(ip.TotalLen() - 2)
			ip.SetID(^ip.ID())
			ip.SetChecksum(0xbeef)
			got := decode(t, &layers.IPv4{}, ip)
			if got.Length != want.Length-2 || got.Id != ^want.Id || got.Checksum != 0xbeef {
				t.Errorf("set: gopacket reads length %d, ID %#x, checksum %#x; want %d, %#x, 0xbeef", got.Length, got.Id, got.Checksum, want.Length-2, ^want.Id)
			}
		})
	}
}

func TestParseIPv4Rejects(t *testing.T) {
	good := serialize(t, &layers.IPv4{Version: 4, IHL: 5, TTL: 1, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8},
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}})
	with := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"19 bytes", good[:IPv4MinLen-1]},
		{"version 6", with(0, 0x66)},
		{"IHL 4", with(0, 0x44)},
		{"options cut short", good[:IPv4MinLen+2]},
	} {
		if _, ok := ParseIPv4(tt.b); ok {
			t.Errorf("%s: got true; want false", tt.name)
		}
	}
}

func TestIPv6(t *testing.T) {
	l := &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: layers.IPProtocolUDP, HopLimit: 63,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2:3")}
	frame := serialize(t, ethernet(layers.EthernetTypeIPv6), l, payload)
	want := decode(t, &layers.IPv6{}, Ethernet(frame).Payload())
	ip, ok := ParseIPv6(Ethernet(frame).Payload())
	if !ok {
		t.Fatal("ParseIPv6: got false; want true")
	}
	checkFields(t, []field{
		{"Version", uint64(ip.Version()), uint64(want.Version)},
		{"TrafficClass", uint64(ip.TrafficClass()), uint64(want.TrafficClass)},
		{"FlowLabel", uint64(ip.FlowLabel()), uint64(want.FlowLabel)},
		{"PayloadLen", uint64(ip.PayloadLen()), uint64(want.Length)},
		{"NextHeader", uint64(ip.NextHeader()), uint64(want.NextHeader)},
		{"HopLimit", uint64(ip.HopLimit()), uint64(want.HopLimit)},
	})
	checkBytes(t, "Source", ip.Source().AsSlice(), want.SrcIP)
	checkBytes(t, "Destination", ip.Destination().AsSlice(), want.DstIP)
	checkBytes(t, "Addresses", ip.Addresses(), append(bytes.Clone(want.SrcIP), want.DstIP...))
	checkBytes(t, "Payload", ip.Payload(), want.Payload)

	ip.SetPayloadLen(ip.PayloadLen() - 3)
	got := decode(t, &layers.IPv6{}, ip)
	if got.Length != want.Length-3 {
		t.Errorf("set: gopacket reads payload length %d; want %d", got.Length, want.Length-3)
	}
	if _, ok := ParseIPv6(Ethernet(frame).Payload()[:IPv6Len-1]); ok {
		t.Error("ParseIPv6 of 39 bytes: got true; want false")
	}
	v4 := serialize(t, &layers.IPv4{Version: 4, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}}, payload)
	if _, ok := ParseIPv6(v4); ok {
		t.Error("ParseIPv6 of an IPv4 header: got true; want false")
	}
}

func TestTCP(t *testing.T) {
	ts := []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}
	tests := []struct {
		name string
		tcp  *layers.TCP
	}{
		{"ACK", &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 0xfffffff0, Ack: 77, ACK: true, Window: 512}},
		{"SYN with options", &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 1, SYN: true, ECE: true, CWR: true, Window: 65535, Options: ts}},
		{"every flag", &layers.TCP{SrcPort: 65535, DstPort: 80, Seq: 7, Ack: 8, FIN: true, SYN: true, RST: true, PSH: true, ACK: true, URG: true, ECE: true, CWR: true, NS: true, Urgent: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 0, 1}, DstIP: net.IP{198, 19, 0, 2}}
			_ = tt.tcp.SetNetworkLayerForChecksum(ip)
			frame := serialize(t, ethernet(layers.EthernetTypeIPv4), ip, tt.tcp, payload)
			want := decode(t, &layers.TCP{}, IPv4(Ethernet(frame).Payload()).Payload())
			tcp, ok := ParseTCP(IPv4(Ethernet(frame).Payload()).Payload())
			if !ok {
				t.Fatal("ParseTCP: got false; want true")
			}
			checkFields(t, []field{
				{"SourcePort", uint64(tcp.SourcePort()), uint64(want.SrcPort)},
				{"DestinationPort", uint64(tcp.DestinationPort()), uint64(want.DstPort)},
				{"Seq", uint64(tcp.Seq()), uint64(want.Seq)},
				{"Ack", uint64(tcp.Ack()), uint64(want.Ack)},
				{"DataOffset", uint64(tcp.DataOffset()), uint64(want.DataOffset) * 4},
				{"Reserved", uint64(tcp.Reserved()), b2u(want.NS)},
				{"Flags", uint64(tcp.Flags()), flagsOf(want)},
				{"Window", uint64(tcp.Window()), uint64(want.Window)},
				{"Checksum", uint64(tcp.Checksum()), uint64(want.Checksum)},
				{"Urgent", uint64(tcp.Urgent()), uint64(want.Urgent)},
			})
			checkBytes(t, "Options", tcp.Options(), want.Contents[TCPMinLen:])
			checkBytes(t, "Payload", tcp.Payload(), want.Payload)

			tcp.SetSeq(want.Seq + 1000)
			tcp.SetFlags(TCPFlagACK | TCPFlagPSH)
			tcp.SetChecksum(0xcafe)
			got := decode(t, &layers.TCP{}, tcp)
			if got.Seq != want.Seq+1000 || !got.ACK || !got.PSH || got.SYN || got.FIN || got.NS != want.NS || got.Checksum != 0xcafe {
				t.Errorf("set: gopacket reads seq %d, flags %#x, NS %v, checksum %#x; want %d, ACK|PSH, %v, 0xcafe", got.Seq, flagsOf(got), got.NS, got.Checksum, want.Seq+1000, want.NS)
			}
		})
	}
	hdr := func(n int, dataOffset byte) []byte {
		b := make([]byte, n)
		b[12] = dataOffset << 4
		return b
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"19 bytes", hdr(TCPMinLen-1, 5)},
		{"data offset 4", hdr(TCPMinLen, 4)},
		{"options cut short", hdr(TCPMinLen+4, 6)[:TCPMinLen+3]},
	} {
		if _, ok := ParseTCP(tt.b); ok {
			t.Errorf("ParseTCP of %s: got true; want false", tt.name)
		}
	}
	if _, ok := ParseTCP(hdr(TCPMinLen+4, 6)); !ok {
		t.Error("ParseTCP of 24 bytes, data offset 6: got false; want true")
	}
}

// flagsOf returns the flag byte of a decoded TCP header.
func flagsOf(l *layers.TCP) uint64 {
	return b2u(l.FIN)*TCPFlagFIN | b2u(l.SYN)*TCPFlagSYN | b2u(l.RST)*TCPFlagRST | b2u(l.PSH)*TCPFlagPSH |
		b2u(l.ACK)*TCPFlagACK | b2u(l.URG)*TCPFlagURG | b2u(l.ECE)*TCPFlagECE | b2u(l.CWR)*TCPFlagCWR
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestUDP(t *testing.T) {
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 1, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	u := &layers.UDP{SrcPort: 5000, DstPort: 4789}
	_ = u.SetNetworkLayerForChecksum(ip)
	frame := serialize(t, ethernet(layers.EthernetTypeIPv6), ip, u, payload)
	want := decode(t, &layers.UDP{}, IPv6(Ethernet(frame).Payload()).Payload())
	udp, ok := ParseUDP(IPv6(Ethernet(frame).Payload()).Payload())
	switch {
	case !ok:
		t.Fatal("ParseUDP: got false; want true")
	case udp.SourcePort() != uint16(want.SrcPort) || udp.DestinationPort() != uint16(want.DstPort):
		t.Errorf("ports: got %d > %d; want %d > %d", udp.SourcePort(), udp.DestinationPort(), want.SrcPort, want.DstPort)
	case udp.Length() != want.Length:
		t.Errorf("Length: got %d; want %d", udp.Length(), want.Length)
	case udp.Checksum() != want.Checksum:
		t.Errorf("Checksum: got %#x; want %#x", udp.Checksum(), want.Checksum)
	case !bytes.Equal(udp.Payload(), want.Payload):
		t.Errorf("Payload: got %q; want %q", udp.Payload(), want.Payload)
	}
	udp.SetLength(udp.Length() - 4)
	udp.SetChecksum(0x1234)
	got := decode(t, &layers.UDP{}, udp)
	if got.Length != want.Length-4 || got.Checksum != 0x1234 {
		t.Errorf("set: gopacket reads length %d, checksum %#x; want %d, 0x1234", got.Length, got.Checksum, want.Length-4)
	}
	if _, ok := ParseUDP(make([]byte, UDPLen-1)); ok {
		t.Error("ParseUDP of 7 bytes: got true; want false")
	}
}

// field is an accessor's value and what gopacket reads.
type field struct {
	name      string
	got, want uint64
}

func checkFields(t *testing.T, fields []field) {
	t.Helper()
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s: got %#x; want %#x", f.name, f.got, f.want)
		}
	}
}

func checkBytes(t *testing.T, field string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got % x; want % x", field, got, want)
	}
}
