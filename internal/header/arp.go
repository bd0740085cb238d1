package header

import (
	"encoding/binary"
	"net/netip"
)

const (
	// ARPLen is the length of an ARP packet for IPv4 over Ethernet.
	ARPLen = 28

	arpOp  = 6
	arpSHA = 8
	arpSPA = 14
	arpTHA = 18
	arpTPA = 24

	// arpFixed is the first six bytes of every ARP packet ARP views: hardware
	// type 1 (Ethernet), protocol type IPv4, address lengths 6 and 4.
	arpFixed = 0x0001_0800_0604
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is an ARP packet for IPv4 over Ethernet (RFC 826), as it follows the
// Ethernet header, ARPLen bytes:
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
//
// Its methods index it directly: it must be at least ARPLen bytes long
// (ParseARP checks), or they panic.
type ARP []byte

// ParseARP returns the ARP packet at the start of b, an Ethernet payload,
// and whether b holds a whole one for IPv4 over Ethernet. Use the view only
// if it does.
func ParseARP(b []byte) (ARP, bool) {
	if len(b) < ARPLen {
		return ARP(b), false
	}
	a := ARP(b[:ARPLen])
	return a, binary.BigEndian.Uint64(a)>>16 == arpFixed // the first six bytes
}

// Init writes the fixed fields of an IPv4-over-Ethernet packet and op,
// leaving the addresses alone.
func (a ARP) Init(op uint16) {
	_ = a[arpOp+1]
	binary.BigEndian.PutUint32(a, arpFixed>>16)
	binary.BigEndian.PutUint16(a[4:], arpFixed&0xffff)
	a.SetOp(op)
}

// Op returns the operation: ARPRequest, ARPReply or another.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() [6]byte { return [6]byte(a[arpSHA : arpSHA+6]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpSPA : arpSPA+4])) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() [6]byte { return [6]byte(a[arpTHA : arpTHA+6]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[arpTPA : arpTPA+4])) }

// SetOp writes the operation.
func (a ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(a[arpOp:], op) }

// SetSenderMAC writes the sender hardware address.
func (a ARP) SetSenderMAC(mac [6]byte) { copy(a[arpSHA:arpSHA+6], mac[:]) }

// SetSenderIP writes the sender protocol address; ip must be an IPv4 (or
// IPv4-mapped) address, or SetSenderIP panics.
func (a ARP) SetSenderIP(ip netip.Addr) {
	ip4 := ip.As4()
	copy(a[arpSPA:arpSPA+4], ip4[:])
}

// SetTargetMAC writes the target hardware address.
func (a ARP) SetTargetMAC(mac [6]byte) { copy(a[arpTHA:arpTHA+6], mac[:]) }

// SetTargetIP writes the target protocol address; ip must be an IPv4 (or
// IPv4-mapped) address, or SetTargetIP panics.
func (a ARP) SetTargetIP(ip netip.Addr) {
	ip4 := ip.As4()
	copy(a[arpTPA:arpTPA+4], ip4[:])
}
