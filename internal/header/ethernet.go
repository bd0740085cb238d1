package header

import "encoding/binary"

const (
	// EthernetLen is the length of an untagged Ethernet header.
	EthernetLen = 14

	// EtherTypeOffset is where the EtherType lies in an untagged
	// Ethernet header.
	EtherTypeOffset = 12

	ethDst = 0
	ethSrc = 6
)

// EtherTypes of the payloads weft looks into.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// Ethernet is an untagged Ethernet II header and the frame it starts,
// EthernetLen bytes of header:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Destination address (6 bytes)                 |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                   Source address (6 bytes)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |  Payload ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least EthernetLen bytes
// long (ParseEthernet checks), or they panic. Addresses are [6]byte, which
// converts to and from any MAC type of that shape for free.
type Ethernet []byte

// ParseEthernet returns b as an Ethernet frame, and whether it holds a
// whole header. Use the view only if it does.
func ParseEthernet(b []byte) (Ethernet, bool) {
	return Ethernet(b), len(b) >= EthernetLen
}

// Destination returns the destination address.
func (e Ethernet) Destination() [6]byte { return [6]byte(e[ethDst : ethDst+6]) }

// Source returns the source address.
func (e Ethernet) Source() [6]byte { return [6]byte(e[ethSrc : ethSrc+6]) }

// Type returns the EtherType.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[EtherTypeOffset:]) }

// SetDestination writes the destination address.
func (e Ethernet) SetDestination(mac [6]byte) { copy(e[ethDst:ethDst+6], mac[:]) }

// SetSource writes the source address.
func (e Ethernet) SetSource(mac [6]byte) { copy(e[ethSrc:ethSrc+6], mac[:]) }

// SetType writes the EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[EtherTypeOffset:], t) }

// Payload returns what follows the header.
func (e Ethernet) Payload() []byte { return e[EthernetLen:] }
