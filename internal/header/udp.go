package header

import "encoding/binary"

const (
	// UDPLen is the length of a UDP header.
	UDPLen = 8

	// UDPChecksumOffset is where the checksum lies in a UDP header.
	UDPChecksumOffset = 6

	udpSrcPort = 0
	udpDstPort = 2
	udpLength  = 4
)

// UDP is a UDP header (RFC 768) and the datagram it starts, UDPLen bytes of
// header:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Length             |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least UDPLen bytes long
// (ParseUDP checks), or they panic.
type UDP []byte

// ParseUDP returns b as a UDP datagram, and whether it holds a whole
// header. Use the view only if it does. It does not check the length
// field.
func ParseUDP(b []byte) (UDP, bool) {
	return UDP(b), len(b) >= UDPLen
}

// SourcePort returns the source port.
func (u UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (u UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the length field: header and payload.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[udpLength:]) }

// Checksum returns the checksum field; zero means none over IPv4.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[UDPChecksumOffset:]) }

// Payload returns what follows the header.
func (u UDP) Payload() []byte { return u[UDPLen:] }

// SetLength writes the length field.
func (u UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(u[udpLength:], n) }

// SetChecksum writes the checksum field.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[UDPChecksumOffset:], c) }
