package fdb

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// hashSeed is the secret key of a table's hash. It is drawn from the same
// random source as the seeds of Go's own maps, and never leaves the table,
// so a sender cannot choose keys that collide.
type hashSeed [3]uint64

func newHashSeed() hashSeed {
	return hashSeed{rand.Uint64(), rand.Uint64(), rand.Uint64()}
}

// mix is the multiply-fold of wyhash, which the Go runtime uses to hash map
// keys where it has no AES instructions: the 128-bit product of a and b,
// its halves XORed.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash2 hashes the two words a and b under s, as wyhash hashes 16 bytes.
func (s *hashSeed) hash2(a, b uint64) uint64 {
	return mix(mix(a^s[0], b^s[1]), s[2])
}

// hash returns k's hash under s.
func (k macKey) hash(s *hashSeed) uint64 { return s.hash2(uint64(k.vni), k.mac) }

// hash returns k's hash under s: the address's 16 bytes (IPv4 in its
// IPv4-in-IPv6 form; keys are never in that form, so no two keys share
// them but for an IPv6 zone), then the VNI.
func (k ipKey) hash(s *hashSeed) uint64 {
	b := k.ip.As16()
	h := s.hash2(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]))
	return mix(h^uint64(k.vni), s[0])
}
