package vtep

import (
	"encoding/binary"
	"net/netip"

	"github.com/weftnet/weft/fdb"
)

// arp is an ARP packet for IPv4 over Ethernet, as it follows the Ethernet
// header (RFC 826):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-------------------------------+-------------------------------+
//	|      Hardware type (1)        |    Protocol type (0x0800)     |
//	+---------------+---------------+-------------------------------+
//	|  HW len (6)   | Proto len (4) |          Operation            |
//	+---------------+---------------+-------------------------------+
//	|              Sender hardware address (6 bytes)                |
//	+                               +-------------------------------+
//	|                               |  Sender protocol address (4)  |
//	+-------------------------------+-------------------------------+
//	|  ...                          |  Target hardware address (6)  |
//	+-------------------------------+-------------------------------+
//	|              ...              |  Target protocol address (4)  |
//	+-------------------------------+-------------------------------+
type arp []byte

const (
	arpLen       = 28
	arpOpRequest = 1
	arpOpReply   = 2
	arpSHA       = 8
	arpSPA       = 14
	arpTHA       = 18
	arpTPA       = 24

	etherTypeOff  = 12
	etherTypeARP  = 0x0806
	ethHeaderLen  = 14
	arpHeaderWord = 0x0001_0800_0604 // htype 1, ptype IPv4, hlen 6, plen 4
)

// parseARP returns the ARP packet in an Ethernet frame, if the frame is an
// untagged IPv4-over-Ethernet ARP packet.
func parseARP(frame []byte) (arp, bool) {
	if len(frame) < ethHeaderLen+arpLen || binary.BigEndian.Uint16(frame[etherTypeOff:]) != etherTypeARP {
		return nil, false
	}
	a := arp(frame[ethHeaderLen : ethHeaderLen+arpLen])
	hdr := uint64(binary.BigEndian.Uint32(a))<<16 | uint64(binary.BigEndian.Uint16(a[4:]))
	return a, hdr == arpHeaderWord
}

func (a arp) op() uint16           { return binary.BigEndian.Uint16(a[6:]) }
func (a arp) senderMAC() fdb.MAC   { return fdb.MAC(a[arpSHA : arpSHA+6]) }
func (a arp) senderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpSPA : arpSPA+4])) }
func (a arp) targetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpTPA : arpTPA+4])) }

// answerARP turns an ARP request frame, in place, into the reply that the
// owner of its target address, mac, would send back.
func answerARP(frame []byte, a arp, mac fdb.MAC) {
	reqMAC, reqIP, target := a.senderMAC(), [4]byte(a[arpSPA:arpSPA+4]), [4]byte(a[arpTPA:arpTPA+4])
	copy(frame[0:6], reqMAC[:])
	copy(frame[6:12], mac[:])
	binary.BigEndian.PutUint16(a[6:], arpOpReply)
	copy(a[arpSHA:], mac[:])
	copy(a[arpSPA:], target[:])
	copy(a[arpTHA:], reqMAC[:])
	copy(a[arpTPA:], reqIP[:])
}

// gratuitousARP builds the broadcast ARP request that mac sends to announce
// that it now owns ip (sender and target address both ip), padded to the
// Ethernet minimum.
func gratuitousARP(ip netip.Addr, mac fdb.MAC) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[etherTypeOff:], etherTypeARP)
	a := arp(f[ethHeaderLen : ethHeaderLen+arpLen])
	binary.BigEndian.PutUint32(a, 0x0001_0800)
	binary.BigEndian.PutUint16(a[4:], 0x0604)
	binary.BigEndian.PutUint16(a[6:], arpOpRequest)
	ip4 := ip.As4()
	copy(a[arpSHA:], mac[:])
	copy(a[arpSPA:], ip4[:])
	copy(a[arpTPA:], ip4[:])
	return f
}
