package encap

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// GSO describes an inner frame handed over with segmentation or checksum
// work left to do, as a TAP device with IFF_VNET_HDR describes it in its
// virtio-net header. Offsets count from the start of the Ethernet header.
type GSO struct {
	Type       GSOType
	Size       int  // payload bytes per segment (MSS), for Type other than GSONone
	CsumStart  int  // where the transport header starts
	CsumOffset int  // where its checksum field is, from CsumStart
	NeedsCsum  bool // the checksum field holds only the pseudo-header sum
}

// GSOType is the kind of segmentation a frame needs.
type GSOType uint8

// Segmentation kinds, as virtio-net numbers them.
const (
	GSONone  GSOType = 0
	GSOTCPv4 GSOType = 1
	GSOUDPL4 GSOType = 5 // UDP segmentation (USO), IPv4 or IPv6
	GSOTCPv6 GSOType = 4
)

// ErrGSO means a frame does not match the segmentation it asks for.
var ErrGSO = errors.New("encap: frame does not match its GSO description")

// Header lengths and offsets of the inner packets segmented here.
const (
	ethTypeIPv4 = 0x0800
	ethTypeIPv6 = 0x86dd
	ipv6HdrLen  = 40
	udpHdrLen   = 8
	tcpSeqOff   = 4
	tcpFlagsOff = 13
	tcpFIN      = 0x01
	tcpPSH      = 0x08
	tcpCWR      = 0x80
)

// Split cuts frame into the segments g describes and writes each, Ethernet
// header included, to dst[i][offset:], setting sizes[i]. Every segment gets
// its own IP length (and IPv4 ID and header checksum), TCP sequence number
// or UDP length, and a complete transport checksum; FIN and PSH stay on the
// last TCP segment only, CWR on the first. A frame that needs no
// segmentation is copied with its checksum completed if NeedsCsum. It
// returns how many segments it wrote; dst must hold enough buffers, each
// with room for offset plus the headers plus g.Size. It does not allocate.
func Split(frame []byte, g GSO, dst [][]byte, sizes []int, offset int) (int, error) {
	if g.Type == GSONone {
		return splitNone(frame, g, dst, sizes, offset)
	}
	p, err := parseSegmentable(frame, g)
	if err != nil {
		return 0, err
	}
	payload := frame[p.hdrLen:]
	count := (len(payload) + g.Size - 1) / g.Size
	if count == 0 {
		count = 1
	}
	if count > len(dst) || count > len(sizes) {
		return 0, ErrGSO
	}
	for i := range count {
		chunk := payload[i*g.Size : min((i+1)*g.Size, len(payload))]
		seg := dst[i][offset:]
		if len(seg) < p.hdrLen+len(chunk) {
			return 0, ErrGSO
		}
		copy(seg, frame[:p.hdrLen])
		copy(seg[p.hdrLen:], chunk)
		seg = seg[:p.hdrLen+len(chunk)]
		p.fixSegment(seg, i, count, g.Size)
		sizes[i] = len(seg)
	}
	return count, nil
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
		field := out[g.CsumStart+g.CsumOffset:]
		binary.BigEndian.PutUint16(field, ^fold(sum(out[g.CsumStart:], 0)))
		if binary.BigEndian.Uint16(field) == 0 && g.CsumOffset == 6 {
			binary.BigEndian.PutUint16(field, 0xffff) // UDP sends a zero sum as all ones
		}
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

// parseSegmentable checks that frame is an IPv4 or IPv6 TCP or UDP packet
// as g says, with no IPv6 extension headers, and returns where its parts
// are.
func parseSegmentable(frame []byte, g GSO) (segmentable, error) {
	var p segmentable
	if g.Size <= 0 || len(frame) < EthernetHeaderLen+20 {
		return p, ErrGSO
	}
	p.ipStart = EthernetHeaderLen
	switch binary.BigEndian.Uint16(frame[12:]) {
	case ethTypeIPv4:
		ihl := int(frame[p.ipStart]&0x0f) * 4
		if frame[p.ipStart]>>4 != 4 || ihl < 20 || g.Type == GSOTCPv6 {
			return p, ErrGSO
		}
		p.l4Start = p.ipStart + ihl
		p.ipID = binary.BigEndian.Uint16(frame[p.ipStart+4:])
	case ethTypeIPv6:
		if frame[p.ipStart]>>4 != 6 || g.Type == GSOTCPv4 || len(frame) < p.ipStart+ipv6HdrLen {
			return p, ErrGSO
		}
		p.l4Start, p.v6 = p.ipStart+ipv6HdrLen, true
	default:
		return p, ErrGSO
	}
	if g.CsumStart != p.l4Start {
		return p, ErrGSO // extension headers, or a header that lies
	}
	return p, p.parseL4(frame, g)
}

// parseL4 reads the transport header of a super-frame.
func (p *segmentable) parseL4(frame []byte, g GSO) error {
	proto := frame[p.ipStart+9]
	if p.v6 {
		proto = frame[p.ipStart+6]
	}
	if g.Type == GSOUDPL4 {
		if proto != 17 || len(frame) < p.l4Start+udpHdrLen {
			return ErrGSO
		}
		p.udp, p.hdrLen = true, p.l4Start+udpHdrLen
		return nil
	}
	if proto != 6 || len(frame) < p.l4Start+20 {
		return ErrGSO
	}
	doff := int(frame[p.l4Start+12]>>4) * 4
	if doff < 20 || len(frame) < p.l4Start+doff {
		return ErrGSO
	}
	p.hdrLen = p.l4Start + doff
	p.seq = binary.BigEndian.Uint32(frame[p.l4Start+tcpSeqOff:])
	p.flags = frame[p.l4Start+tcpFlagsOff]
	return nil
}

// fixSegment rewrites the headers of segment i of count, copied from the
// super-frame, for its payload.
func (p *segmentable) fixSegment(seg []byte, i, count, size int) {
	ip, l4 := seg[p.ipStart:], seg[p.l4Start:]
	if p.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(len(seg)-p.l4Start))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(len(seg)-p.ipStart))
		binary.BigEndian.PutUint16(ip[4:], p.ipID+uint16(i))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:p.l4Start-p.ipStart], 0)))
	}
	csumOff := 16
	if p.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		csumOff = 6
	} else {
		binary.BigEndian.PutUint32(l4[tcpSeqOff:], p.seq+uint32(i*size))
		flags := p.flags
		if i != count-1 {
			flags &^= tcpFIN | tcpPSH
		}
		if i != 0 {
			flags &^= tcpCWR
		}
		l4[tcpFlagsOff] = flags
	}
	l4[csumOff], l4[csumOff+1] = 0, 0
	c := ^fold(sum(l4, p.pseudo(seg, len(l4))))
	if p.udp && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
}

// pseudo returns the pseudo-header sum of a segment whose transport part
// is l4Len bytes.
func (p *segmentable) pseudo(seg []byte, l4Len int) uint32 {
	ip := seg[p.ipStart:]
	var s uint32
	if p.v6 {
		s = sum(ip[8:40], 0) + uint32(ip[6])
	} else {
		s = sum(ip[12:20], 0) + uint32(ip[9])
	}
	return s + uint32(l4Len)
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
