package crypto

import (
	"encoding/binary"
	"errors"
)

const (
	// HeaderLen is the length of the ESP header as weft sends it: SPI,
	// sequence number (low 32 bits) and the 8-byte IV.
	HeaderLen = 16

	// ICVLen is the length of the AES-GCM integrity check value (tag).
	ICVLen = 16

	// Overhead is the most Seal adds to a payload: header, up to 3 padding
	// bytes, the 2-byte trailer and the ICV. The overlay MTU must leave room
	// for it.
	Overhead = HeaderLen + maxPadLen + trailerLen + ICVLen

	// KeyLen is the length of an SA's keying material: an AES-256 key
	// followed by the 4-byte salt (RFC 4106, section 8.1).
	KeyLen = aesKeyLen + saltLen

	// VXLANFlags is the first 32-bit word of every cleartext VXLAN datagram
	// (the I flag). No SPI takes this value, so the first word tells ESP and
	// VXLAN apart.
	VXLANFlags = 0x08000000

	// NextHeader is the next-header value weft writes into the ESP trailer
	// and requires on receipt: the payload is a VXLAN header and an Ethernet
	// frame. No protocol number names VXLAN; 143, IANA's "Ethernet" (RFC
	// 8986), is the nearest. Wireshark's stock ESP dissector decrypts the
	// payload with it and, since the payload starts with the VXLAN header,
	// its VXLAN dissector takes the decrypted bytes from there (see the
	// encrypted-network integration test).
	NextHeader = 143

	// MaxReservedSPI is the largest SPI value RFC 4303 reserves (0 for local
	// use, 1-255 for IANA); weft never uses one.
	MaxReservedSPI = 255
)

const (
	aesKeyLen  = 32
	saltLen    = 4
	nonceLen   = saltLen + ivLen // GCM's standard 12-byte nonce
	ivLen      = 8
	aadLen     = 12 // SPI, Seq high, Seq low
	trailerLen = 2  // pad length, next header
	maxPadLen  = 3  // Seal pads the plaintext to a multiple of 4

	// minDatagram is the shortest datagram Open considers: a header, a
	// trailer and an ICV.
	minDatagram = HeaderLen + trailerLen + ICVLen
)

// Offsets of the ESP header fields.
const (
	spiOffset    = 0
	seqLowOffset = 4
	ivOffset     = 8
)

// Errors returned by Seal and Open. Open returns exactly one of ErrShort,
// ErrReplay and ErrAuth for a datagram it drops, unwrapped, so that the data
// plane can count drops by reason without allocating.
var (
	// ErrShort means a datagram is malformed: shorter than a header, a
	// trailer and an ICV, or, once authenticated, with a trailer that does
	// not fit (pad length beyond the plaintext, padding bytes other than 1,
	// 2, 3, ..., or a next header other than NextHeader).
	ErrShort = errors.New("crypto: malformed ESP datagram")

	// ErrReplay means a datagram's sequence number was seen before or lies
	// left of the replay window (or is 0, which no sender uses).
	ErrReplay = errors.New("crypto: ESP sequence number replayed or too old")

	// ErrAuth means a datagram failed authentication: its ICV does not match
	// (tampered, another key, or a sequence number whose high 32 bits were
	// inferred wrongly), or its SPI is not the SA's.
	ErrAuth = errors.New("crypto: ESP authentication failed")

	// ErrNoRoom means the buffer given to Seal has no room (capacity) for
	// the header, padding, trailer and ICV around the payload.
	ErrNoRoom = errors.New("crypto: buffer too small for ESP header, trailer and ICV")

	// ErrSeqExhausted means an Outbound has used its last sequence number
	// (2^64-1) and must be replaced by one with a new key.
	ErrSeqExhausted = errors.New("crypto: ESP sequence numbers exhausted; rekey")
)

// Header is the ESP header (RFC 4303, section 2) as weft sends it, the IV of
// RFC 4106 included, 16 bytes on the wire:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|               Security Parameters Index (SPI)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|              Sequence Number (low 32 bits of ESN)             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      IV: the full 64-bit                      |
//	+                  sequence number, big-endian                  +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Its methods index it directly: it must be at least HeaderLen bytes long,
// or they panic.
type Header []byte

// SPI returns the Security Parameters Index.
func (h Header) SPI() uint32 {
	return binary.BigEndian.Uint32(h[spiOffset:])
}

// SeqLow returns the low 32 bits of the sequence number, the only ones that
// RFC 4303 puts in the header.
func (h Header) SeqLow() uint32 {
	return binary.BigEndian.Uint32(h[seqLowOffset:])
}

// IV returns the 8-byte IV as a number: for a datagram weft sealed, the full
// 64-bit sequence number.
func (h Header) IV() uint64 {
	return binary.BigEndian.Uint64(h[ivOffset:])
}

// put writes a complete header for spi and the 64-bit sequence number seq.
func (h Header) put(spi uint32, seq uint64) {
	_ = h[HeaderLen-1]
	binary.BigEndian.PutUint32(h[spiOffset:], spi)
	binary.BigEndian.PutUint32(h[seqLowOffset:], uint32(seq))
	binary.BigEndian.PutUint64(h[ivOffset:], seq)
}

// ValidSPI reports whether spi may name a weft SA: not reserved (0-255) and
// not VXLANFlags.
func ValidSPI(spi uint32) bool {
	return spi > MaxReservedSPI && spi != VXLANFlags
}

// IsESP reports whether the datagram b starts with an SPI (a valid one, see
// ValidSPI) rather than VXLAN's flags word. A datagram shorter than 4 bytes,
// or starting with a reserved SPI value, is not ESP; the VXLAN decoder then
// drops it.
func IsESP(b []byte) bool {
	spi, ok := SPIOf(b)
	return ok && ValidSPI(spi)
}

// SPIOf returns the SPI that a datagram starts with, for looking up its
// Inbound; ok is false if b is shorter than 4 bytes.
func SPIOf(b []byte) (spi uint32, ok bool) {
	if len(b) < 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// SealedLen returns the length of the datagram Seal makes of an n-byte
// payload: HeaderLen + n + padding + trailer + ICVLen, at most n + Overhead.
func SealedLen(n int) int {
	return HeaderLen + n + padLen(n) + trailerLen + ICVLen
}

// padLen returns how many padding bytes make an n-byte payload and the
// trailer a multiple of 4 bytes long (RFC 4303, section 2.4).
func padLen(n int) int {
	return (4 - (n+trailerLen)%4) % 4
}
