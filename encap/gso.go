package encap

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/weftnet/weft/internal/header"
)

// GSO describes an inner frame handed over with segmentation or checksum
// work left to do, as a TAP device with IFF_VNET_HDR describes it in its
// virtio-net header. Offsets count from the start of the Ethernet header.
type GSO struct {
	Type       header.GSOType
	Size       int  // payload bytes per segment (MSS), for Type other than GSONone
	CsumStart  int  // where the transport header starts
	CsumOffset int  // where its checksum field is, from CsumStart
	NeedsCsum  bool // the checksum field holds only the pseudo-header sum
}

// ErrGSO means a frame does not match the segmentation it asks for.
var ErrGSO = errors.New("encap: frame does not match its GSO description")

// Split cuts frame into the segments g describes and writes each, Ethernet
// header included, to dst[i][offset:], setting sizes[i]. Every segment gets
// its own IP length (and IPv4 ID and header checksum), TCP sequence number
// or UDP length, and a complete transport checksum; FIN and PSH stay on the
// last TCP segment only, CWR on the first. A frame that needs no
// segmentation is copied with its checksum completed if NeedsCsum. It
// returns how many segments it wrote; dst must hold enough buffers, each
// with room for offset plus the headers plus g.Size. It does not allocate.
func Split(frame []byte, g GSO, dst [][]byte, sizes []int, offset int) (int, error) {
	if g.Type == header.GSONone {
		return splitNone(frame, g, dst, sizes, offset)
	}
	written, count, err := SplitFrom(frame, g, 0, dst, sizes, offset)
	if err == nil && written < count {
		return 0, ErrGSO
	}
	return written, err
}

// SplitFrom is Split for a caller with fewer buffers than segments: it
// writes segments first, first+1, … of frame, as many as dst and sizes
// hold, to dst[0], dst[1], …, and returns how many it wrote and how many
// segments the frame has in all. Calling it again from first+written
// continues the split. g must ask for segmentation (not GSONone). It does
// not allocate.
func SplitFrom(frame []byte, g GSO, first int, dst [][]byte, sizes []int, offset int) (written, count int, err error) {
	var p segmentable
	if g.Type == header.GSONone || !p.parse(frame, g) {
		return 0, 0, ErrGSO
	}
	payload := frame[p.hdrLen:]
	count = max((len(payload)+g.Size-1)/g.Size, 1)
	written = min(count-first, len(dst), len(sizes))
	if first < 0 || written <= 0 {
		return 0, count, ErrGSO
	}
	for j := range written {
		i := first + j
		chunk := payload[i*g.Size : min((i+1)*g.Size, len(payload))]
		seg := dst[j][offset:]
		if len(seg) < p.hdrLen+len(chunk) {
			return 0, count, ErrGSO
		}
		copy(seg, frame[:p.hdrLen])
		copy(seg[p.hdrLen:], chunk)
		seg = seg[:p.hdrLen+len(chunk)]
		p.fixSegment(seg, i, count, g.Size)
		sizes[j] = len(seg)
	}
	return written, count, nil
}

// splitNone copies a frame that needs no segmentation, completing its
// checksum if asked.
func splitNone(frame []byte, g GSO, dst [][]byte, sizes []int, offset int) (int, error) {
	if len(dst) == 0 || len(sizes) == 0 || len(dst[0]) < offset+len(frame) {
		return 0, ErrGSO
	}
	out := dst[0][offset : offset+len(frame)]
	copy(out, frame)
	if g.NeedsCsum {
		if g.CsumStart < 0 || g.CsumStart+g.CsumOffset+2 > len(out) {
			return 0, ErrGSO
		}
		c := ^fold(sum(out[g.CsumStart:], 0))
		if g.CsumOffset == header.UDPChecksumOffset {
			c = udpSum(c)
		}
		binary.BigEndian.PutUint16(out[g.CsumStart+g.CsumOffset:], c)
	}
	sizes[0] = len(out)
	return 1, nil
}

// segmentable is a parsed super-frame: where its headers are.
type segmentable struct {
	ipStart int
	l4Start int
	hdrLen  int // Ethernet, IP and transport headers
	v6      bool
	udp     bool
	seq     uint32 // the first segment's TCP sequence number
	ipID    uint16 // the first segment's IPv4 ID
	flags   byte   // TCP flags of the super-frame
}

// parse reads into p where the parts of frame are, and reports whether
// frame is an IPv4 or IPv6 TCP or UDP packet as g says, with no IPv6
// extension headers. It fills p in place: returning the struct, or
// copying it, costs Coalesce more than the parsing does.
func (p *segmentable) parse(frame []byte, g GSO) bool {
	*p = segmentable{}
	eth, ok := header.ParseEthernet(frame)
	if g.Size <= 0 || !ok {
		return false
	}
	p.ipStart = header.EthernetLen
	var l4 []byte
	var proto uint8
	switch eth.Type() {
	case header.EtherTypeIPv4:
		ip, ok := header.ParseIPv4(eth.Payload())
		if !ok || g.Type == header.GSOTCPv6 {
			return false
		}
		p.l4Start, p.ipID = p.ipStart+ip.HeaderLen(), ip.ID()
		l4, proto = ip.Payload(), ip.Protocol()
	case header.EtherTypeIPv6:
		ip, ok := header.ParseIPv6(eth.Payload())
		if !ok || g.Type == header.GSOTCPv4 {
			return false
		}
		p.l4Start, p.v6 = p.ipStart+header.IPv6Len, true
		l4, proto = ip.Payload(), ip.NextHeader()
	default:
		return false
	}
	if g.CsumStart != p.l4Start {
		return false // extension headers, or a header that lies
	}
	return p.parseL4(l4, proto, g.Type)
}

// parseL4 reads the transport header of a super-frame, l4, whose IP header
// gives its protocol as proto, and reports whether it is the one the
// segmentation t needs.
func (p *segmentable) parseL4(l4 []byte, proto uint8, t header.GSOType) bool {
	if t == header.GSOUDPL4 {
		if _, ok := header.ParseUDP(l4); !ok || proto != header.ProtocolUDP {
			return false
		}
		p.udp, p.hdrLen = true, p.l4Start+header.UDPLen
		return true
	}
	tcp, ok := header.ParseTCP(l4)
	if !ok || proto != header.ProtocolTCP {
		return false
	}
	p.hdrLen = p.l4Start + tcp.DataOffset()
	p.seq, p.flags = tcp.Seq(), tcp.Flags()
	return true
}

// fixSegment rewrites the headers of segment i of count, copied from the
// super-frame, for its payload.
func (p *segmentable) fixSegment(seg []byte, i, count, size int) {
	if !p.v6 {
		header.IPv4(seg[p.ipStart:]).SetID(p.ipID + uint16(i))
	}
	p.setIPLen(seg)
	l4 := seg[p.l4Start:]
	if p.udp {
		udp := header.UDP(l4)
		udp.SetLength(uint16(len(l4)))
		udp.SetChecksum(0)
		udp.SetChecksum(udpSum(^fold(sum(l4, p.pseudo(seg, len(l4))))))
		return
	}
	tcp := header.TCP(l4)
	tcp.SetSeq(p.seq + uint32(i*size))
	tcp.SetFlags(segmentFlags(p.flags, i, count))
	tcp.SetChecksum(0)
	tcp.SetChecksum(^fold(sum(l4, p.pseudo(seg, len(l4)))))
}

// segmentFlags returns the TCP flags of segment i of count cut from a
// super-frame with flags: FIN and PSH on the last only, CWR on the first
// only.
func segmentFlags(flags uint8, i, count int) uint8 {
	if i != count-1 {
		flags &^= header.TCPFlagFIN | header.TCPFlagPSH
	}
	if i != 0 {
		flags &^= header.TCPFlagCWR
	}
	return flags
}

// udpSum returns the UDP checksum field for the complete checksum c: UDP
// sends a zero sum as all ones, zero meaning none.
func udpSum(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}

// setIPLen writes the IP length of frame, whose headers lie where p found
// them in the super-frame, and for IPv4 the header checksum.
func (p *segmentable) setIPLen(frame []byte) {
	if p.v6 {
		header.IPv6(frame[p.ipStart:]).SetPayloadLen(uint16(len(frame) - p.l4Start))
		return
	}
	ip := header.IPv4(frame[p.ipStart:])
	ip.SetTotalLen(uint16(len(frame) - p.ipStart))
	ip.SetChecksum(0)
	ip.SetChecksum(^fold(sum(ip.Header(), 0)))
}

// pseudo returns the pseudo-header sum of a segment whose transport part
// is l4Len bytes.
func (p *segmentable) pseudo(seg []byte, l4Len int) uint32 {
	if p.v6 {
		ip := header.IPv6(seg[p.ipStart:])
		return sum(ip.Addresses(), 0) + uint32(ip.NextHeader()) + uint32(l4Len)
	}
	ip := header.IPv4(seg[p.ipStart:])
	return sum(ip.Addresses(), 0) + uint32(ip.Protocol()) + uint32(l4Len)
}

// sum adds the big-endian 16-bit words of b (a trailing odd byte as the
// high byte of a word) to the ones'-complement sum s, without folding it.
//
// It loads 8 bytes at a time in little-endian order and adds them with
// carries: a ones'-complement sum of byte-swapped words is the byte-swapped
// sum, so one swap at the end gives the big-endian result.
func sum(b []byte, s uint32) uint32 {
	var acc, carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b), carry)
		b = b[8:]
	}
	acc, carry = bits.Add64(acc, carry, 0)
	acc += carry // at most 1, into an acc that was just wrapped: no overflow
	var tail uint64
	for len(b) >= 2 {
		tail += uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		tail += uint64(b[0])
	}
	acc, carry = bits.Add64(acc, tail, 0)
	acc += carry
	// Fold 64 bits to 16, then swap back to big-endian order.
	acc = acc&0xffffffff + acc>>32
	acc = acc&0xffffffff + acc>>32
	f := uint32(acc)
	f = f&0xffff + f>>16
	f = f&0xffff + f>>16
	return s + uint32(bits.ReverseBytes16(uint16(f)))
}

// fold folds a 32-bit ones'-complement sum to 16 bits.
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
