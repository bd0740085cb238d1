package encap

import (
	"bytes"
	"encoding/binary"
)

// Coalesce is the reverse of Split, for writing received frames to a TAP
// with IFF_VNET_HDR: it merges the longest run of frames, from frames[0],
// that are consecutive TCP segments of one flow into one super-frame in
// dst, and returns how many frames it took, the super-frame's length, and
// the GSO description for its virtio-net header. The super-frame carries
// the first segment's headers with the IP length (and IPv4 header
// checksum) of the whole, and its TCP checksum field holds the
// pseudo-header sum only (NeedsCsum), as the kernel expects of a GSO
// frame.
//
// A segment joins the run if its Ethernet, IP and TCP headers equal the
// first's but for the IP length, ID and checksum and the TCP sequence
// number, checksum and PSH flag; its sequence number follows on; every
// segment before it carried exactly the first's payload length and no
// PSH; it carries no more than that; and the whole stays within 64 KB.
// Only ACK and, on the last segment, PSH may be set. A frame that starts
// no run of two is left alone: Coalesce returns 1 and GSONone, and the
// caller writes frames[0] as it is. It does not allocate.
func Coalesce(frames [][]byte, dst []byte) (taken, size int, g GSO) {
	head, ok := parseCoalescible(frames[0])
	if !ok || len(frames) < 2 {
		return 1, 0, GSO{}
	}
	mss := len(frames[0]) - head.hdrLen
	total := mss
	taken = 1
	for ; taken < len(frames); taken++ {
		seg, ok := parseCoalescible(frames[taken])
		n := len(frames[taken]) - seg.hdrLen
		if !ok || !head.continues(frames[0], seg, frames[taken], total) || n > mss ||
			head.hdrLen+total+n > len(dst) || head.hdrLen-head.ipStart+total+n > 65535 {
			break
		}
		total += n
		if n < mss || seg.flags&tcpPSH != 0 {
			taken++
			break
		}
	}
	if taken < 2 {
		return 1, 0, GSO{}
	}
	return taken, head.build(frames[:taken], dst, total, mss), head.gso(mss)
}

// coalescible is a parsed TCP segment that may start or join a run.
type coalescible struct {
	segmentable
}

// parseCoalescible reads a frame's headers: an IPv4 (without options) or
// IPv6 (without extension headers) TCP segment with a payload and only
// ACK, or ACK and PSH, set.
func parseCoalescible(frame []byte) (coalescible, bool) {
	var c coalescible
	if len(frame) < EthernetHeaderLen+20 {
		return c, false
	}
	g := GSO{Type: GSOTCPv4, Size: 1, CsumStart: EthernetHeaderLen + 20}
	if binary.BigEndian.Uint16(frame[12:]) == ethTypeIPv6 {
		g.Type, g.CsumStart = GSOTCPv6, EthernetHeaderLen+ipv6HdrLen
	}
	p, err := parseSegmentable(frame, g)
	if err != nil || p.hdrLen >= len(frame) || p.flags&^tcpPSH != tcpACK {
		return c, false
	}
	if !p.v6 && binary.BigEndian.Uint16(frame[p.ipStart+6:])&0x3fff != 0 {
		return c, false // a fragment
	}
	c.segmentable = p
	return c, true
}

const tcpACK = 0x10

// continues reports whether seg (frame) can follow the run that started
// with c (first) and carries total payload bytes so far.
func (c coalescible) continues(first []byte, seg coalescible, frame []byte, total int) bool {
	if seg.v6 != c.v6 || seg.hdrLen != c.hdrLen || c.flags&tcpPSH != 0 || seg.seq != c.seq+uint32(total) {
		return false
	}
	if !bytes.Equal(frame[:EthernetHeaderLen], first[:EthernetHeaderLen]) {
		return false
	}
	ip, fip := frame[c.ipStart:c.l4Start], first[c.ipStart:c.l4Start]
	if c.v6 {
		if !bytes.Equal(ip[:4], fip[:4]) || !bytes.Equal(ip[6:], fip[6:]) {
			return false // version, class, flow; next header, hop limit, addresses
		}
	} else if ip[1] != fip[1] || !bytes.Equal(ip[6:10], fip[6:10]) || !bytes.Equal(ip[12:], fip[12:]) {
		return false // TOS; flags, TTL, protocol; addresses
	}
	tcp, ftcp := frame[c.l4Start:c.hdrLen], first[c.l4Start:c.hdrLen]
	return bytes.Equal(tcp[:4], ftcp[:4]) && // ports
		bytes.Equal(tcp[8:12], ftcp[8:12]) && // ack
		tcp[12] == ftcp[12] && // data offset
		bytes.Equal(tcp[14:16], ftcp[14:16]) && // window
		bytes.Equal(tcp[18:], ftcp[18:]) // urgent pointer, options
}

// build writes the super-frame of frames, total payload bytes, into dst and
// returns its length.
func (c coalescible) build(frames [][]byte, dst []byte, total, mss int) int {
	n := copy(dst, frames[0][:c.hdrLen])
	for _, f := range frames {
		n += copy(dst[n:], f[c.hdrLen:])
	}
	out := dst[:n]
	ip, l4 := out[c.ipStart:], out[c.l4Start:]
	if c.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-c.l4Start))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(n-c.ipStart))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:c.l4Start-c.ipStart], 0)))
	}
	if last := frames[len(frames)-1]; last[c.l4Start+tcpFlagsOff]&tcpPSH != 0 {
		l4[tcpFlagsOff] |= tcpPSH
	}
	// The kernel finishes the checksum: leave it the pseudo-header sum.
	binary.BigEndian.PutUint16(l4[16:], fold(c.pseudo(out, len(l4))))
	return n
}

// gso describes the super-frame for its virtio-net header.
func (c coalescible) gso(mss int) GSO {
	g := GSO{Type: GSOTCPv4, Size: mss, CsumStart: c.l4Start, CsumOffset: 16, NeedsCsum: true}
	if c.v6 {
		g.Type = GSOTCPv6
	}
	return g
}
