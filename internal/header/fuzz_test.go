package header

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Each fuzz target feeds arbitrary bytes to a view's parser, which must
// not panic; calls every accessor of a view it accepts, which must not
// panic either; checks the fields against gopacket where gopacket decodes
// the same bytes; and checks that each setter's value reads back and that
// it changed no other byte.

// mac makes an Ethernet address of the low 48 bits of u.
func mac(u uint64) [6]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return [6]byte(b[2:])
}

// unchanged fails if a setter changed bytes of b outside [from, to), where
// before is b as it was.
func unchanged(t *testing.T, what string, b, before []byte, from, to int) {
	t.Helper()
	if !bytes.Equal(b[:from], before[:from]) || !bytes.Equal(b[to:], before[to:]) {
		t.Fatalf("%s changed bytes outside %d-%d:\n got % x\nwant % x", what, from, to, b, before)
	}
}

func FuzzEthernet(f *testing.F) {
	f.Add(serialize(f, ethernet(layers.EthernetTypeIPv4), payload), uint64(1), uint64(2), uint16(EtherTypeARP))
	f.Add([]byte{}, uint64(0), uint64(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, dst, src uint64, typ uint16) {
		e, ok := ParseEthernet(b)
		if ok != (len(b) >= EthernetLen) {
			t.Fatalf("ParseEthernet of %d bytes: got %v", len(b), ok)
		}
		if !ok {
			return
		}
		var g layers.Ethernet
		if g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
			if e.Destination() != [6]byte(g.DstMAC) || e.Source() != [6]byte(g.SrcMAC) {
				t.Fatalf("addresses: got %x > %x; gopacket reads %v > %v", e.Source(), e.Destination(), g.SrcMAC, g.DstMAC)
			}
			if g.Length == 0 && e.Type() != uint16(g.EthernetType) { // gopacket reads an 802.3 length as LLC
				t.Fatalf("Type: got %#x; gopacket reads %#x", e.Type(), g.EthernetType)
			}
		}
		if !bytes.Equal(e.Payload(), b[EthernetLen:]) {
			t.Fatal("Payload is not what follows the header")
		}
		before := bytes.Clone(b)
		e.SetDestination(mac(dst))
		e.SetSource(mac(src))
		e.SetType(typ)
		if e.Destination() != mac(dst) || e.Source() != mac(src) || e.Type() != typ {
			t.Fatalf("set %x > %x type %#x; read back %x > %x type %#x", mac(src), mac(dst), typ, e.Source(), e.Destination(), e.Type())
		}
		unchanged(t, "Ethernet setters", b, before, 0, EthernetLen)
	})
}

func FuzzARP(f *testing.F) {
	f.Add(serialize(f, arpLayer(ARPRequest)), uint16(ARPReply), uint64(1), uint64(2), uint32(3), uint32(4))
	f.Add(make([]byte, ARPLen), uint16(0), uint64(0), uint64(0), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, op uint16, sha, tha uint64, spa, tpa uint32) {
		a, ok := ParseARP(b)
		want := len(b) >= ARPLen && bytes.Equal(b[:6], []byte{0, 1, 8, 0, 6, 4})
		if ok != want {
			t.Fatalf("ParseARP of % x: got %v; want %v", b, ok, want)
		}
		if !ok {
			return
		}
		var g layers.ARP
		if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket does not decode what ParseARP accepts: %v", err)
		}
		if a.Op() != g.Operation || a.SenderMAC() != [6]byte(g.SourceHwAddress) || a.SenderIP() != addr(g.SourceProtAddress) ||
			a.TargetMAC() != [6]byte(g.DstHwAddress) || a.TargetIP() != addr(g.DstProtAddress) {
			t.Fatalf("got op %d %x %v > %x %v; gopacket reads op %d %v %v > %v %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP(),
				g.Operation, g.SourceHwAddress, g.SourceProtAddress, g.DstHwAddress, g.DstProtAddress)
		}
		before := bytes.Clone(b)
		sip, tip := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, spa))), netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, tpa)))
		a.SetOp(op)
		a.SetSenderMAC(mac(sha))
		a.SetSenderIP(sip)
		a.SetTargetMAC(mac(tha))
		a.SetTargetIP(tip)
		if a.Op() != op || a.SenderMAC() != mac(sha) || a.SenderIP() != sip || a.TargetMAC() != mac(tha) || a.TargetIP() != tip {
			t.Fatalf("set op %d %x %v > %x %v; read back op %d %x %v > %x %v", op, mac(sha), sip, mac(tha), tip,
				a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
		}
		unchanged(t, "ARP setters", b, before, arpOp, ARPLen)
		if _, ok := ParseARP(b); !ok {
			t.Fatal("setters broke the fixed fields")
		}
		clear(b)
		ARP(b).Init(op)
		if again, ok := ParseARP(b); !ok || again.Op() != op {
			t.Fatalf("Init(%d): ParseARP = %v, op %d", op, ok, again.Op())
		}
	})
}

func FuzzIPv4(f *testing.F) {
	f.Add(serialize(f, &layers.IPv4{Version: 4, TTL: 9, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8},
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}, payload), uint16(1), uint16(2), uint16(3))
	f.Add(make([]byte, IPv4MinLen), uint16(0), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, totalLen, id, csum uint16) {
		ip, ok := ParseIPv4(b)
		if want := len(b) >= IPv4MinLen && b[0]>>4 == 4 && b[0]&0x0f >= 5 && int(b[0]&0x0f)*4 <= len(b); ok != want {
			t.Fatalf("ParseIPv4 of % x: got %v; want %v", b[:min(len(b), IPv4MinLen)], ok, want)
		}
		if !ok {
			return
		}
		n := len(ip.Header()) + len(ip.Payload())
		if n != len(b) || len(ip.Options()) != ip.HeaderLen()-IPv4MinLen || len(ip.Addresses()) != 8 {
			t.Fatalf("parts do not add up: header %d, payload %d, options %d, addresses %d of %d bytes",
				len(ip.Header()), len(ip.Payload()), len(ip.Options()), len(ip.Addresses()), len(b))
		}
		var g layers.IPv4
		if g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
			if ip.TOS() != g.TOS || ip.ID() != g.Id || ip.Flags() != uint8(g.Flags) || ip.FragmentOffset() != g.FragOffset*8 ||
				ip.IsFragment() != (g.Flags&layers.IPv4MoreFragments != 0 || g.FragOffset != 0) ||
				ip.TTL() != g.TTL || ip.Protocol() != uint8(g.Protocol) || ip.Checksum() != g.Checksum ||
				ip.Source() != addr(g.SrcIP) || ip.Destination() != addr(g.DstIP) || (ip.TotalLen() != 0 && ip.TotalLen() != g.Length) {
				t.Fatalf("fields differ from gopacket's: % x", b[:IPv4MinLen])
			}
		}
		before := bytes.Clone(b)
		ip.SetTotalLen(totalLen)
		ip.SetID(id)
		ip.SetChecksum(csum)
		if ip.TotalLen() != totalLen || ip.ID() != id || ip.Checksum() != csum {
			t.Fatalf("set length %d, ID %d, checksum %#x; read back %d, %d, %#x", totalLen, id, csum, ip.TotalLen(), ip.ID(), ip.Checksum())
		}
		copy(b[ipv4Checksum:], before[ipv4Checksum:ipv4Checksum+2])
		unchanged(t, "IPv4 setters", b, before, ipv4TotalLen, ipv4FlagsFrag)
	})
}

func FuzzIPv6(f *testing.F) {
	f.Add(serialize(f, &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: layers.IPProtocolTCP, HopLimit: 1,
		SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}, payload), uint16(7))
	f.Add(make([]byte, IPv6Len), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, payloadLen uint16) {
		ip, ok := ParseIPv6(b)
		if ok != (len(b) >= IPv6Len && b[0]>>4 == 6) {
			t.Fatalf("ParseIPv6 of % x: got %v", b[:min(len(b), IPv6Len)], ok)
		}
		if !ok {
			return
		}
		if len(ip.Payload()) != len(b)-IPv6Len || len(ip.Addresses()) != 32 {
			t.Fatalf("parts do not add up: payload %d, addresses %d of %d bytes", len(ip.Payload()), len(ip.Addresses()), len(b))
		}
		var g layers.IPv6
		if ip.NextHeader() != 0 && g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil { // not hop-by-hop, which gopacket reads on
			if ip.TrafficClass() != g.TrafficClass || ip.FlowLabel() != g.FlowLabel || ip.NextHeader() != uint8(g.NextHeader) ||
				ip.HopLimit() != g.HopLimit || ip.Source() != addr(g.SrcIP) || ip.Destination() != addr(g.DstIP) || ip.PayloadLen() != g.Length {
				t.Fatalf("fields differ from gopacket's: % x", b[:IPv6Len])
			}
		}
		before := bytes.Clone(b)
		ip.SetPayloadLen(payloadLen)
		if ip.PayloadLen() != payloadLen {
			t.Fatalf("set payload length %d; read back %d", payloadLen, ip.PayloadLen())
		}
		unchanged(t, "IPv6 setters", b, before, ipv6PayloadLen, ipv6NextHeader)
	})
}

func FuzzTCP(f *testing.F) {
	tcp := &layers.TCP{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, ACK: true, PSH: true, Window: 5, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}}}
	_ = tcp.SetNetworkLayerForChecksum(&layers.IPv4{SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}})
	f.Add(serialize(f, tcp, payload), uint32(1), uint8(TCPFlagFIN), uint16(2))
	f.Add(make([]byte, TCPMinLen), uint32(0), uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32, flags uint8, csum uint16) {
		tcp, ok := ParseTCP(b)
		if want := len(b) >= TCPMinLen && b[12]>>4 >= 5 && int(b[12]>>4)*4 <= len(b); ok != want {
			t.Fatalf("ParseTCP of % x: got %v; want %v", b[:min(len(b), TCPMinLen)], ok, want)
		}
		var g layers.TCP
		gerr := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		if gerr == nil && !ok {
			t.Fatalf("ParseTCP rejects what gopacket decodes: % x", b)
		}
		if !ok {
			return
		}
		if len(tcp.Options())+TCPMinLen+len(tcp.Payload()) != len(b) {
			t.Fatalf("parts do not add up: options %d, payload %d of %d bytes", len(tcp.Options()), len(tcp.Payload()), len(b))
		}
		if gerr == nil {
			if tcp.SourcePort() != uint16(g.SrcPort) || tcp.DestinationPort() != uint16(g.DstPort) || tcp.Seq() != g.Seq || tcp.Ack() != g.Ack ||
				tcp.DataOffset() != int(g.DataOffset)*4 || uint64(tcp.Flags()) != flagsOf(&g) || tcp.Reserved()&1 != uint8(b2u(g.NS)) ||
				tcp.Window() != g.Window || tcp.Checksum() != g.Checksum || tcp.Urgent() != g.Urgent || !bytes.Equal(tcp.Payload(), g.Payload) {
				t.Fatalf("fields differ from gopacket's: % x", b[:TCPMinLen])
			}
		}
		before := bytes.Clone(b)
		tcp.SetSeq(seq)
		tcp.SetFlags(flags)
		tcp.SetChecksum(csum)
		if tcp.Seq() != seq || tcp.Flags() != flags || tcp.Checksum() != csum {
			t.Fatalf("set seq %d, flags %#x, checksum %#x; read back %d, %#x, %#x", seq, flags, csum, tcp.Seq(), tcp.Flags(), tcp.Checksum())
		}
		copy(b[tcpSeq:], before[tcpSeq:tcpSeq+4])
		copy(b[tcpFlags:], before[tcpFlags:tcpFlags+1])
		unchanged(t, "TCP setters", b, before, TCPChecksumOffset, TCPChecksumOffset+2)
	})
}

func FuzzUDP(f *testing.F) {
	udp := &layers.UDP{SrcPort: 1, DstPort: 2}
	_ = udp.SetNetworkLayerForChecksum(&layers.IPv6{SrcIP: net.IPv6loopback, DstIP: net.IPv6loopback})
	f.Add(serialize(f, udp, payload), uint16(9), uint16(10))
	f.Add(make([]byte, UDPLen), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, length, csum uint16) {
		u, ok := ParseUDP(b)
		if ok != (len(b) >= UDPLen) {
			t.Fatalf("ParseUDP of %d bytes: got %v", len(b), ok)
		}
		if !ok {
			return
		}
		var g layers.UDP
		if g.DecodeFromBytes(b, gopacket.NilDecodeFeedback) == nil {
			if u.SourcePort() != uint16(g.SrcPort) || u.DestinationPort() != uint16(g.DstPort) || u.Checksum() != g.Checksum ||
				(u.Length() != 0 && u.Length() != g.Length) { // gopacket reads a zero length as a jumbogram's
				t.Fatalf("fields differ from gopacket's: % x", b[:UDPLen])
			}
		}
		if !bytes.Equal(u.Payload(), b[UDPLen:]) {
			t.Fatal("Payload is not what follows the header")
		}
		before := bytes.Clone(b)
		u.SetLength(length)
		u.SetChecksum(csum)
		if u.Length() != length || u.Checksum() != csum {
			t.Fatalf("set length %d, checksum %#x; read back %d, %#x", length, csum, u.Length(), u.Checksum())
		}
		unchanged(t, "UDP setters", b, before, udpLength, UDPLen)
	})
}
