package encap

import (
	"bytes"
	"errors"

	"github.com/weftnet/weft/internal/header"
)

// ErrChecksum means that Coalesce found frames[0] to be a TCP segment that
// would start a run but whose checksum is wrong: its data was damaged on
// the way, or its checksum was left to an offload that nobody performed.
var ErrChecksum = errors.New("encap: TCP segment with a bad checksum")

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
// Only ACK and, on the last segment, PSH may be set; the IP length must
// match the frame (no Ethernet padding), and every segment's TCP checksum
// must be right, since the kernel computes the super-frame's afresh. A
// frame that starts no run of two is left alone: Coalesce returns 1 and
// GSONone, and the caller writes frames[0] as it is. If frames[1] would
// have joined frames[0] but frames[0]'s checksum is wrong, the error is
// ErrChecksum, again with 1 and GSONone. Only the checksums of segments
// that would be merged are checked: a frame delivered alone is its
// receiver's to check. It does not allocate.
func Coalesce(frames [][]byte, dst []byte) (taken, size int, g GSO, err error) {
	var head, seg coalescible
	if !head.parse(frames[0]) || len(frames) < 2 {
		return 1, 0, GSO{}, nil
	}
	mss := len(frames[0]) - head.hdrLen
	total := mss
	taken = 1
	for ; taken < len(frames); taken++ {
		ok := seg.parse(frames[taken])
		n := len(frames[taken]) - seg.hdrLen
		if !ok || !head.continues(frames[0], &seg, frames[taken], total) || n > mss ||
			head.hdrLen+total+n > len(dst) || head.hdrLen-head.ipStart+total+n > 65535 {
			break
		}
		if taken == 1 && !head.checksummed(frames[0]) {
			return 1, 0, GSO{}, ErrChecksum
		}
		if !seg.checksummed(frames[taken]) {
			break
		}
		total += n
		if n < mss || seg.flags&header.TCPFlagPSH != 0 {
			taken++
			break
		}
	}
	if taken < 2 {
		return 1, 0, GSO{}, nil
	}
	return taken, head.build(frames[:taken], dst), head.gso(mss), nil
}

// coalescible is a parsed TCP segment that may start or join a run.
type coalescible struct {
	segmentable
}

// parse reads frame's headers into c, and reports whether frame is an
// IPv4 (without options) or IPv6 (without extension headers) TCP segment
// with a payload and only ACK, or ACK and PSH, set.
func (c *coalescible) parse(frame []byte) bool {
	eth, ok := header.ParseEthernet(frame)
	if !ok {
		c.segmentable = segmentable{}
		return false
	}
	g := GSO{Type: header.GSOTCPv4, Size: 1, CsumStart: header.EthernetLen + header.IPv4MinLen}
	if eth.Type() == header.EtherTypeIPv6 {
		g.Type, g.CsumStart = header.GSOTCPv6, header.EthernetLen+header.IPv6Len
	}
	if !c.segmentable.parse(frame, g) || c.hdrLen >= len(frame) || c.flags&^header.TCPFlagPSH != header.TCPFlagACK {
		return false
	}
	if c.v6 {
		return int(header.IPv6(frame[c.ipStart:]).PayloadLen()) == len(frame)-c.l4Start
	}
	ip := header.IPv4(frame[c.ipStart:])
	return int(ip.TotalLen()) == len(frame)-c.ipStart && !ip.IsFragment()
}

// checksummed reports whether the TCP checksum of frame, parsed into c,
// is right.
func (c *coalescible) checksummed(frame []byte) bool {
	l4 := frame[c.l4Start:]
	return fold(sum(l4, c.pseudo(frame, len(l4)))) == 0xffff
}

// continues reports whether seg (frame) can follow the run that started
// with c (first) and carries total payload bytes so far.
func (c *coalescible) continues(first []byte, seg *coalescible, frame []byte, total int) bool {
	if seg.v6 != c.v6 || seg.hdrLen != c.hdrLen || c.flags&header.TCPFlagPSH != 0 || seg.seq != c.seq+uint32(total) {
		return false
	}
	if !bytes.Equal(frame[:header.EthernetLen], first[:header.EthernetLen]) {
		return false
	}
	ip, fip := frame[c.ipStart:c.l4Start], first[c.ipStart:c.l4Start]
	if c.v6 && !sameIPv6(ip, fip) || !c.v6 && !sameIPv4(ip, fip) {
		return false
	}
	return sameTCP(frame[c.l4Start:c.hdrLen], first[c.l4Start:c.hdrLen])
}

// sameIPv4 reports whether two IPv4 headers agree but for the total
// length, ID and checksum.
func sameIPv4(a, b header.IPv4) bool {
	_, _ = a[header.IPv4MinLen-1], b[header.IPv4MinLen-1] // one bounds check each
	return a.TOS() == b.TOS() && a.Flags() == b.Flags() && a.FragmentOffset() == b.FragmentOffset() &&
		a.TTL() == b.TTL() && a.Protocol() == b.Protocol() &&
		bytes.Equal(a.Addresses(), b.Addresses()) && bytes.Equal(a.Options(), b.Options())
}

// sameIPv6 reports whether two IPv6 headers agree but for the payload
// length.
func sameIPv6(a, b header.IPv6) bool {
	_, _ = a[header.IPv6Len-1], b[header.IPv6Len-1]
	return a.TrafficClass() == b.TrafficClass() && a.FlowLabel() == b.FlowLabel() &&
		a.NextHeader() == b.NextHeader() && a.HopLimit() == b.HopLimit() &&
		bytes.Equal(a.Addresses(), b.Addresses())
}

// sameTCP reports whether two TCP headers agree but for the sequence
// number, flags and checksum.
func sameTCP(a, b header.TCP) bool {
	_, _ = a[header.TCPMinLen-1], b[header.TCPMinLen-1]
	return a.SourcePort() == b.SourcePort() && a.DestinationPort() == b.DestinationPort() &&
		a.Ack() == b.Ack() && a.DataOffset() == b.DataOffset() && a.Reserved() == b.Reserved() &&
		a.Window() == b.Window() && a.Urgent() == b.Urgent() && bytes.Equal(a.Options(), b.Options())
}

// build writes the super-frame of frames into dst and returns its length.
func (c *coalescible) build(frames [][]byte, dst []byte) int {
	n := copy(dst, frames[0][:c.hdrLen])
	for _, f := range frames {
		n += copy(dst[n:], f[c.hdrLen:])
	}
	out := dst[:n]
	c.setIPLen(out)
	tcp := header.TCP(out[c.l4Start:])
	if last := header.TCP(frames[len(frames)-1][c.l4Start:]); last.Flags()&header.TCPFlagPSH != 0 {
		tcp.SetFlags(tcp.Flags() | header.TCPFlagPSH)
	}
	// The kernel finishes the checksum: leave it the pseudo-header sum.
	tcp.SetChecksum(fold(c.pseudo(out, len(tcp))))
	return n
}

// gso describes the super-frame for its virtio-net header.
func (c *coalescible) gso(mss int) GSO {
	g := GSO{Type: header.GSOTCPv4, Size: mss, CsumStart: c.l4Start, CsumOffset: header.TCPChecksumOffset, NeedsCsum: true}
	if c.v6 {
		g.Type = header.GSOTCPv6
	}
	return g
}
