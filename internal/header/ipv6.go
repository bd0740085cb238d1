package header

import (
	"encoding/binary"
	"net/netip"
)

const (
	// IPv6Len is the length of an IPv6 header, extension headers not
	// included.
	IPv6Len = 40

	ipv6VersTCFlow = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
)

// IPv6 is an IPv6 header (RFC 8200) and the packet it starts, IPv6Len
// bytes of header:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |              Flow Label               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                  Source Address (16 bytes)                    |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                Destination Address (16 bytes)                 |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least IPv6Len bytes long
// (ParseIPv6 checks), or they panic.
type IPv6 []byte

// ParseIPv6 returns b as an IPv6 packet, and whether it starts with a
// whole IPv6 header of version 6. Use the view only if it does. It does not
// check the payload length.
func ParseIPv6(b []byte) (IPv6, bool) {
	return IPv6(b), len(b) >= IPv6Len && IPv6(b).Version() == 6
}

// Version returns the version field, 6 in a parsed header.
func (ip IPv6) Version() uint8 { return ip[ipv6VersTCFlow] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN).
func (ip IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(ip[ipv6VersTCFlow:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (ip IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(ip[ipv6VersTCFlow:]) & 0xfffff
}

// PayloadLen returns the payload length field: what follows the header.
func (ip IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(ip[ipv6PayloadLen:]) }

// NextHeader returns the next header: an extension header's type or the
// payload's protocol number.
func (ip IPv6) NextHeader() uint8 { return ip[ipv6NextHeader] }

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[ipv6HopLimit] }

// Source returns the source address.
func (ip IPv6) Source() netip.Addr { return netip.AddrFrom16([16]byte(ip[ipv6Src : ipv6Src+16])) }

// Destination returns the destination address.
func (ip IPv6) Destination() netip.Addr {
	return netip.AddrFrom16([16]byte(ip[ipv6Dst : ipv6Dst+16]))
}

// Addresses returns the source and destination addresses as they lie in
// the header, 32 bytes: what a transport pseudo-header sums.
func (ip IPv6) Addresses() []byte { return ip[ipv6Src : ipv6Dst+16] }

// Payload returns what follows the header.
func (ip IPv6) Payload() []byte { return ip[IPv6Len:] }

// SetPayloadLen writes the payload length field.
func (ip IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], n) }
