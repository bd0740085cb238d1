package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// MinNetworkKeyLen is the shortest network key Derive accepts.
const MinNetworkKeyLen = 16

// Domain-separation strings of Derive. Changing any of them, or the encoding
// of the context, changes every key and SPI: nodes of different versions
// could no longer talk.
const (
	deriveSalt = "weft esp v1"
	labelKey   = "weft esp key" // keying material (AES key, salt)
	labelSPI   = "weft esp spi" // SPI; same length as labelKey
)

// Derive returns the keying material and SPI of the SA that carries the
// frames of network from node from to node to, under the network key
// networkKey of key generation gen. Both ends compute the same values; the
// two directions between a pair of nodes get different ones.
//
// It uses HKDF-SHA256 (RFC 5869): Extract from networkKey with a fixed salt,
// then Expand with a label ("weft esp key" for the key, "weft esp spi" for
// the SPI) followed by the length-prefixed network, from and to, and gen.
// The SPI is always valid (see ValidSPI): the rare derived value that is not
// has its top bit flipped.
//
// The result depends on nothing else, so an Outbound made from it again
// (after a daemon restart, say) numbers its datagrams from 1 again and reuses
// GCM nonces under the same key: see Outbound. Callers must make from (or
// gen) differ for every Outbound ever made, e.g. by appending a random
// per-start instance ID that the receiver learns along with the node.
//
// Derive panics if networkKey is shorter than MinNetworkKeyLen bytes; keys
// are checked where they enter the node.
func Derive(networkKey []byte, network, from, to string, gen uint64) (key [KeyLen]byte, spi uint32) {
	if len(networkKey) < MinNetworkKeyLen {
		panic("crypto: network key shorter than MinNetworkKeyLen")
	}
	prk, err := hkdf.Extract(sha256.New, networkKey, []byte(deriveSalt))
	if err != nil {
		panic("crypto: HKDF-Extract: " + err.Error()) // only for short keys in FIPS-only mode
	}
	ctx := deriveContext(network, from, to, gen)
	copy(key[:], expand(prk, labelKey+ctx, KeyLen))
	spi = binary.BigEndian.Uint32(expand(prk, labelSPI+ctx, 4))
	return key, fixSPI(spi)
}

// expand is HKDF-Expand with SHA-256, whose only errors (a length beyond
// 255*32 bytes) cannot happen for the lengths Derive asks.
func expand(prk []byte, info string, n int) []byte {
	b, err := hkdf.Expand(sha256.New, prk, info, n)
	if err != nil {
		panic("crypto: HKDF-Expand: " + err.Error())
	}
	return b
}

// deriveContext encodes the SA's identity unambiguously: each string
// prefixed by its 32-bit length, then gen, all big-endian.
func deriveContext(network, from, to string, gen uint64) string {
	b := make([]byte, 0, 3*4+len(network)+len(from)+len(to)+8)
	for _, s := range []string{network, from, to} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return string(binary.BigEndian.AppendUint64(b, gen))
}

// fixSPI maps a derived SPI onto a valid one by flipping its top bit if it is
// reserved or VXLANFlags; both then land in 0x80000000-0x880000ff, which is
// valid.
func fixSPI(spi uint32) uint32 {
	if !ValidSPI(spi) {
		spi ^= 1 << 31
	}
	return spi
}
