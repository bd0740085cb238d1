package header

import "encoding/binary"

const (
	// TCPMinLen is the length of a TCP header without options.
	TCPMinLen = 20

	// TCPChecksumOffset is where the checksum lies in a TCP header.
	TCPChecksumOffset = 16

	tcpSrcPort = 0
	tcpDstPort = 2
	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12
	tcpFlags   = 13
	tcpWindow  = 14
	tcpUrgent  = 18
)

// TCP flags, as Flags returns them.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// TCP is a TCP header (RFC 9293) and the segment it starts:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options (Data Offset > 5)                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least TCPMinLen bytes long,
// and for Options and Payload at least DataOffset bytes (ParseTCP checks
// both), or they panic.
type TCP []byte

// ParseTCP returns b as a TCP segment, and whether it starts with a whole
// TCP header: a data offset of at least 5 words that b holds. Use the view
// only if it does.
func ParseTCP(b []byte) (TCP, bool) {
	t := TCP(b)
	if len(b) < TCPMinLen {
		return t, false
	}
	n := t.DataOffset()
	return t, n >= TCPMinLen && n <= len(b)
}

// SourcePort returns the source port.
func (t TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (t TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[tcpAck:]) }

// DataOffset returns the header's length in bytes, options included.
func (t TCP) DataOffset() int { return int(t[tcpDataOff]>>4) * 4 }

// Reserved returns the four bits between the data offset and the flags:
// three reserved bits and, lowest, AccECN's AE (once ECN nonce's NS).
func (t TCP) Reserved() uint8 { return t[tcpDataOff] & 0x0f }

// Flags returns the flag byte: TCPFlagFIN to TCPFlagCWR.
func (t TCP) Flags() uint8 { return t[tcpFlags] }

// Window returns the window.
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[TCPChecksumOffset:]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the options, empty for a header of TCPMinLen bytes.
func (t TCP) Options() []byte { return t[TCPMinLen:t.DataOffset()] }

// Payload returns what follows the header.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// SetSeq writes the sequence number.
func (t TCP) SetSeq(seq uint32) { binary.BigEndian.PutUint32(t[tcpSeq:], seq) }

// SetFlags writes the flag byte.
func (t TCP) SetFlags(flags uint8) { t[tcpFlags] = flags }

// SetChecksum writes the checksum field.
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[TCPChecksumOffset:], c) }
