package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"testing"
)

const testSPI = 0x1234abcd

// testKey returns keying material whose bytes start at first.
func testKey(first byte) [KeyLen]byte {
	var k [KeyLen]byte
	for i := range k {
		k[i] = first + byte(i)
	}
	return k
}

// newPair returns both sides of one SA.
func newPair(t testing.TB, spi uint32, key [KeyLen]byte) (*Outbound, *Inbound) {
	t.Helper()
	o, err := NewOutbound(spi, key)
	if err != nil {
		t.Fatalf("NewOutbound(%#x): %v", spi, err)
	}
	in, err := NewInbound(spi, key)
	if err != nil {
		t.Fatalf("NewInbound(%#x): %v", spi, err)
	}
	return o, in
}

// payload returns n bytes of recognisable content.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// withRoom returns a buffer holding p at HeaderLen, with headroom filled
// with junk and exactly enough capacity for Seal.
func withRoom(p []byte) []byte {
	buf := make([]byte, SealedLen(len(p)))
	for i := range buf {
		buf[i] = 0xee
	}
	copy(buf[HeaderLen:], p)
	return buf[:HeaderLen+len(p)]
}

// seal seals p with o and returns the datagram.
func seal(t testing.TB, o *Outbound, p []byte) []byte {
	t.Helper()
	buf := withRoom(p)
	m, err := o.Seal(buf, len(p))
	if err != nil {
		t.Fatalf("Seal(%d bytes): %v", len(p), err)
	}
	return buf[:m]
}

// sealRaw builds an ESP datagram straight from crypto/cipher and RFC 4106,
// independently of Seal: plaintext must already carry its padding and
// trailer.
func sealRaw(t testing.TB, key [KeyLen]byte, spi uint32, seq uint64, plaintext []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key[:32])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	var iv [8]byte
	binary.BigEndian.PutUint64(iv[:], seq)
	nonce := append(append([]byte{}, key[32:36]...), iv[:]...)
	aad := binary.BigEndian.AppendUint32(nil, spi)
	aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
	aad = binary.BigEndian.AppendUint32(aad, uint32(seq))
	hdr := binary.BigEndian.AppendUint32(nil, spi)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(seq))
	hdr = append(hdr, iv[:]...)
	return aead.Seal(hdr, nonce, plaintext, aad)
}

// withTrailer returns p followed by pad bytes 1, 2, ..., pad, the pad
// length and next header nh.
func withTrailer(p []byte, pad int, nh byte) []byte {
	out := append([]byte{}, p...)
	for i := range pad {
		out = append(out, byte(i+1))
	}
	return append(out, byte(pad), nh)
}
