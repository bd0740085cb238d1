package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// sa is what both directions of a Security Association hold: the SPI, the
// AEAD built once from the key, and scratch space for the nonce and the
// additional authenticated data. The scratch arrays live in the SA, not on
// the stack, because slices of them passed to the AEAD interface would escape
// and allocate on every packet; this is why an SA is not safe for concurrent
// use.
type sa struct {
	spi   uint32
	aead  cipher.AEAD
	nonce [nonceLen]byte // salt || IV
	aad   [aadLen]byte   // SPI || Seq high || Seq low
}

// init sets up s for spi and key: the AES-256-GCM AEAD, the salt in the
// nonce and the SPI in the AAD.
func (s *sa) init(spi uint32, key *[KeyLen]byte) error {
	if !ValidSPI(spi) {
		return fmt.Errorf("ESP SA with SPI %#x: SPI is reserved or VXLAN's flags word", spi)
	}
	block, err := aes.NewCipher(key[:aesKeyLen])
	if err != nil {
		return fmt.Errorf("ESP SA with SPI %#x: %w", spi, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("ESP SA with SPI %#x: %w", spi, err)
	}
	s.spi, s.aead = spi, aead
	copy(s.nonce[:saltLen], key[aesKeyLen:])
	binary.BigEndian.PutUint32(s.aad[0:], spi)
	return nil
}

// setSeq writes the per-packet parts of the nonce and AAD: the IV, which is
// the 64-bit sequence number, and the sequence number's two halves.
func (s *sa) setSeq(seq uint64) {
	binary.BigEndian.PutUint64(s.nonce[saltLen:], seq)
	binary.BigEndian.PutUint32(s.aad[4:], uint32(seq>>32))
	binary.BigEndian.PutUint32(s.aad[8:], uint32(seq))
}

// Outbound is the sending side of one SA: it numbers datagrams 1, 2, 3, ...
// and seals them.
//
// An Outbound is safe for concurrent use: the transmit loops of a
// network's TAP queues share their peers' Outbounds, and a mutex makes each
// Seal take its own sequence number and nonce. Never let two Outbounds seal with the same key, in this process or across
// a restart: each numbers its datagrams from 1, and two datagrams sealed
// under one key with one sequence number reuse a GCM nonce, which gives away
// the XOR of their plaintexts and lets an observer forge datagrams.
type Outbound struct {
	mu sync.Mutex // serializes Seal: seq and the sa's nonce scratch
	sa
	seq uint64 // the last sequence number used; 0 before the first Seal
}

// NewOutbound returns the sending side of the SA spi with keying material
// key (see Derive). It fails if spi is not valid (see ValidSPI).
func NewOutbound(spi uint32, key [KeyLen]byte) (*Outbound, error) {
	o := new(Outbound)
	if err := o.init(spi, &key); err != nil {
		return nil, err
	}
	return o, nil
}

// SPI returns the SA's Security Parameters Index.
func (o *Outbound) SPI() uint32 { return o.spi }

// Seq returns the sequence number of the last datagram sealed, 0 if none.
func (o *Outbound) Seq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seq
}

// Seal makes an ESP datagram of a payload, in place.
//
// The payload (a VXLAN header and an Ethernet frame) is buf[HeaderLen:
// HeaderLen+n]; the HeaderLen bytes before it are headroom for the ESP
// header, and buf's capacity must leave room after it for padding, trailer
// and ICV: cap(buf) >= SealedLen(n), at most n+Overhead. Seal writes the
// header, pads the payload, encrypts it in place and appends the ICV; the
// datagram is buf[:m] for the length m it returns. It takes the next sequence
// number and allocates nothing.
//
// It fails with ErrNoRoom if buf is too small (or n negative), and with
// ErrSeqExhausted once sequence number 2^64-1 has been used; a failed Seal
// consumes no sequence number and leaves buf alone.
func (o *Outbound) Seal(buf []byte, n int) (int, error) {
	if n < 0 || n > cap(buf) || SealedLen(n) > cap(buf) {
		return 0, ErrNoRoom
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seq == math.MaxUint64 {
		return 0, ErrSeqExhausted
	}
	o.seq++
	m := SealedLen(n)
	buf = buf[:m]
	Header(buf).put(o.spi, o.seq)
	pt := buf[HeaderLen : m-ICVLen]
	writeTrailer(pt, n)
	o.setSeq(o.seq)
	o.aead.Seal(pt[:0], o.nonce[:], pt, o.aad[:])
	return m, nil
}

// writeTrailer fills pt after its first n bytes (the payload) with the
// default padding 1, 2, 3, ... (RFC 4303, section 2.4), the pad length and
// the next header.
func writeTrailer(pt []byte, n int) {
	pad := len(pt) - trailerLen - n
	for i := range pad {
		pt[n+i] = byte(i + 1)
	}
	pt[len(pt)-2] = byte(pad)
	pt[len(pt)-1] = NextHeader
}

// Inbound is the receiving side of one SA: it authenticates and decrypts
// datagrams and keeps the replay window.
//
// An Inbound is safe for concurrent use: a mutex serializes Open, which
// keeps the replay window and the sa's nonce scratch. Normally one receive
// loop opens all of an SA's datagrams.
type Inbound struct {
	mu sync.Mutex
	sa
	window ReplayWindow
}

// NewInbound returns the receiving side of the SA spi with keying material
// key (see Derive). It fails if spi is not valid (see ValidSPI).
func NewInbound(spi uint32, key [KeyLen]byte) (*Inbound, error) {
	in := new(Inbound)
	if err := in.init(spi, &key); err != nil {
		return nil, err
	}
	return in, nil
}

// SPI returns the SA's Security Parameters Index.
func (in *Inbound) SPI() uint32 { return in.spi }

// Open authenticates and decrypts the datagram buf in place and returns its
// payload (the VXLAN header and the Ethernet frame), a subslice of buf.
//
// A datagram it drops yields a nil payload and ErrShort, ErrReplay or ErrAuth
// (see each for what it means). The high 32 bits of the sequence number are
// inferred from the replay window (RFC 4303, Appendix A; see
// ReplayWindow.Check), the number is checked against the window before the
// ICV, and the window is updated only once the ICV verified (RFC 4303,
// section 3.4.3). An authentic datagram with a malformed trailer still takes
// its place in the window.
//
// Weft's senders use the sequence number as the IV, so a datagram that
// passes the replay check but whose IV is not the inferred sequence number
// cannot be authentic: Open drops it without decrypting, as ErrReplay if the
// IV names a number left of the window or already seen (a replay from before
// the window, which the inference alone takes for one 2^32 ahead), as ErrAuth
// otherwise. Open therefore accepts only senders that, like Outbound, use the
// sequence number as IV.
//
// After ErrAuth the contents of buf are unspecified (GCM clears what it
// decrypted). Open allocates nothing.
func (in *Inbound) Open(buf []byte) ([]byte, error) {
	if len(buf) < minDatagram {
		return nil, ErrShort
	}
	h := Header(buf)
	if h.SPI() != in.spi {
		return nil, ErrAuth
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	seq, err := in.admit(h)
	if err != nil {
		return nil, err
	}
	in.setSeq(seq)
	ct := buf[HeaderLen:]
	pt, err := in.aead.Open(ct[:0], in.nonce[:], ct, in.aad[:])
	if err != nil {
		return nil, ErrAuth
	}
	in.window.Update(seq)
	payload, ok := stripTrailer(pt)
	if !ok {
		return nil, ErrShort
	}
	return payload, nil
}

// admit returns the full sequence number of the datagram with header h if
// the replay window admits it and its IV agrees, or ErrReplay or ErrAuth (see
// Open).
func (in *Inbound) admit(h Header) (uint64, error) {
	seqLow := h.SeqLow()
	seq, ok := in.window.Check(seqLow)
	if !ok {
		return 0, ErrReplay
	}
	if iv := h.IV(); iv != seq {
		if uint32(iv) == seqLow && !in.window.fresh(iv) {
			return 0, ErrReplay
		}
		return 0, ErrAuth
	}
	return seq, nil
}

// stripTrailer checks the trailer and padding of the plaintext pt and returns
// the payload before them. It accepts any pad length that fits (RFC 4303
// allows up to 255) but only the default padding contents 1, 2, 3, ...
func stripTrailer(pt []byte) ([]byte, bool) {
	if len(pt) < trailerLen || pt[len(pt)-1] != NextHeader {
		return nil, false
	}
	pad := int(pt[len(pt)-2])
	end := len(pt) - trailerLen - pad
	if end < 0 {
		return nil, false
	}
	for i, b := range pt[end : end+pad] {
		if b != byte(i+1) {
			return nil, false
		}
	}
	return pt[:end], true
}
