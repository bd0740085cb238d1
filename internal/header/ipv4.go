package header

import (
	"encoding/binary"
	"net/netip"
)

const (
	// IPv4MinLen is the length of an IPv4 header without options.
	IPv4MinLen = 20

	// IPv4ProtocolOffset is where the protocol number lies in an IPv4
	// header.
	IPv4ProtocolOffset = 9

	ipv4VersIHL   = 0
	ipv4TOS       = 1
	ipv4TotalLen  = 2
	ipv4ID        = 4
	ipv4FlagsFrag = 6
	ipv4TTL       = 8
	ipv4Checksum  = 10
	ipv4Src       = 12
	ipv4Dst       = 16
)

// IPv4 flags, as Flags returns them.
const (
	IPv4MoreFragments = 1
	IPv4DontFragment  = 2
)

// IP protocol numbers: an IPv4 Protocol or an IPv6 Next Header.
const (
	ProtocolTCP = 6
	ProtocolUDP = 17
)

// IPv4 is an IPv4 header (RFC 791) and the packet it starts:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|     Fragment Offset     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |        Header Checksum        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Source Address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Destination Address                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options (IHL > 5)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least IPv4MinLen bytes
// long, and for Header, Options and Payload at least HeaderLen bytes
// (ParseIPv4 checks both), or they panic.
type IPv4 []byte

// ParseIPv4 returns b as an IPv4 packet, and whether it starts with a
// whole IPv4 header: version 4 and an IHL of at least 5 that b holds. Use
// the view only if it does. It does not check the total length or the
// checksum.
func ParseIPv4(b []byte) (IPv4, bool) {
	ip := IPv4(b)
	if len(b) < IPv4MinLen {
		return ip, false
	}
	n := ip.HeaderLen()
	return ip, ip.Version() == 4 && n >= IPv4MinLen && n <= len(b)
}

// Version returns the version field, 4 in a parsed header.
func (ip IPv4) Version() uint8 { return ip[ipv4VersIHL] >> 4 }

// HeaderLen returns the header's length in bytes, options included.
func (ip IPv4) HeaderLen() int { return int(ip[ipv4VersIHL]&0x0f) * 4 }

// TOS returns the type of service (DSCP and ECN) byte.
func (ip IPv4) TOS() uint8 { return ip[ipv4TOS] }

// TotalLen returns the total length field: header and payload.
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[ipv4TotalLen:]) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipv4ID:]) }

// Flags returns the three flag bits: IPv4DontFragment, IPv4MoreFragments.
func (ip IPv4) Flags() uint8 { return ip[ipv4FlagsFrag] >> 5 }

// FragmentOffset returns the fragment offset in bytes.
func (ip IPv4) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:]) << 3
}

// IsFragment reports whether the packet is a fragment: more fragments
// follow it, or its fragment offset is not zero.
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[ipv4FlagsFrag:])&(IPv4MoreFragments<<13|0x1fff) != 0
}

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[ipv4TTL] }

// Protocol returns the protocol number of the payload.
func (ip IPv4) Protocol() uint8 { return ip[IPv4ProtocolOffset] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[ipv4Checksum:]) }

// Source returns the source address.
func (ip IPv4) Source() netip.Addr { return netip.AddrFrom4([4]byte(ip[ipv4Src : ipv4Src+4])) }

// Destination returns the destination address.
func (ip IPv4) Destination() netip.Addr { return netip.AddrFrom4([4]byte(ip[ipv4Dst : ipv4Dst+4])) }

// Addresses returns the source and destination addresses as they lie in
// the header, 8 bytes: what a transport pseudo-header sums.
func (ip IPv4) Addresses() []byte { return ip[ipv4Src : ipv4Dst+4] }

// Header returns the header, options included.
func (ip IPv4) Header() []byte { return ip[:ip.HeaderLen()] }

// Options returns the options, empty for a header of IPv4MinLen bytes.
func (ip IPv4) Options() []byte { return ip[IPv4MinLen:ip.HeaderLen()] }

// Payload returns what follows the header.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():] }

// SetTotalLen writes the total length field.
func (ip IPv4) SetTotalLen(n uint16) { binary.BigEndian.PutUint16(ip[ipv4TotalLen:], n) }

// SetID writes the identification field.
func (ip IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(ip[ipv4ID:], id) }

// SetChecksum writes the header checksum field.
func (ip IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(ip[ipv4Checksum:], c) }
