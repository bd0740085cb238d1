// Package crypto seals and opens the datagrams of weft's encrypted overlay
// networks: ESP (RFC 4303) with AES-256-GCM (RFC 4106), 64-bit extended
// sequence numbers and an anti-replay window, with keys derived from the
// network key.
//
// A datagram is the UDP payload on the VXLAN port:
//
//	+-----+---------+----+---------------------------------------------+-----+
//	| SPI | Seq low | IV | ciphertext(VXLAN header | frame | trailer)  | ICV |
//	|  4  |    4    |  8 |           n + 2..5, a multiple of 4         |  16 |
//	+-----+---------+----+---------------------------------------------+-----+
//
// The IV is the full 64-bit sequence number, the nonce is salt || IV and the
// additional authenticated data is SPI || Seq high || Seq low (RFC 4106,
// section 5). One Outbound seals the frames of one direction of one peer pair,
// one Inbound opens them; both work in place and allocate nothing per packet.
package crypto
