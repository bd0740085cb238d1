//go:build linux

package encap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP segmentation offload (UDP_SEGMENT, "GSO") and receive coalescing
// (UDP_GRO), as described in the kernel's udp(7) and
// Documentation/networking/segmentation-offloads.rst.
//
// A send carrying a UDP_SEGMENT control message hands the kernel several
// datagrams of one size (the last may be shorter) to one destination as one
// buffer; they travel through the stack, and over veth and loopback all the
// way to the receiving socket, as one packet. A socket with UDP_GRO set
// receives such runs as one buffer with a UDP_GRO control message giving the
// size of its datagrams. Both cut the per-datagram cost of the system calls
// and the stack; Conn's contract, one datagram per buffer, is unchanged.
const (
	// maxGSOSegments is the most datagrams one UDP_SEGMENT send may carry:
	// the kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.11.
	maxGSOSegments = 64
	// maxGSOBytes is the most payload one send may carry: an IPv4 packet
	// of 64 KB less its IP and UDP headers.
	maxGSOBytes = 65535 - 20 - 8
	// groBufferLen is the size of a buffer a coalesced run is read into.
	groBufferLen = 65535
)

var (
	segmentCmsgLen = unix.CmsgSpace(2) // UDP_SEGMENT carries a uint16
	groCmsgSpace   = unix.CmsgSpace(4) // UDP_GRO carries an int
	errSentNothing = errors.New("sendmmsg sent nothing")
)

// offloadSet is the UDP offload state the sockets of one Listen or
// ListenQueues call share. They send over the same routes of one kernel,
// so a refusal of UDP_SEGMENT on one turns it off on all of them, and is
// reported once.
type offloadSet struct {
	gso     atomic.Bool          // UDP_SEGMENT in use
	refused func(Offload, error) // WithOffloadRefused's f; nil: none
	// Why the kernel refused each offload when a socket was opened, the
	// first socket's reason; reported once all are open (reportOpen).
	openErr [numOffloads]error
}

// newOffloadSet returns the state of a set of sockets to be opened, with
// UDP_SEGMENT on until a socket's kernel says otherwise.
func newOffloadSet(opts []Option) *offloadSet {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &offloadSet{refused: o.refused}
	s.gso.Store(true)
	return s
}

// opened records what the kernel granted a socket just opened: UDP_SEGMENT
// is off for the set if it is refused on any socket.
func (s *offloadSet) opened(gsoErr, groErr error) {
	for o, err := range [numOffloads]error{OffloadSegment: gsoErr, OffloadGRO: groErr} {
		if err != nil && s.openErr[o] == nil {
			s.openErr[o] = err
		}
	}
	if gsoErr != nil {
		s.gso.Store(false)
	}
}

// reportOpen reports the offloads refused while the set was opened.
func (s *offloadSet) reportOpen() {
	for o, err := range s.openErr {
		if err != nil && s.refused != nil {
			s.refused(Offload(o), err)
		}
	}
}

// refuseGSO turns UDP_SEGMENT off for the set after the kernel refused,
// with err, a send of k datagrams of size bytes to dst. Only the call that
// turns it off reports it, so it is reported once however many sends fail.
func (s *offloadSet) refuseGSO(err error, k, size int, dst netip.AddrPort) {
	if s.gso.CompareAndSwap(true, false) && s.refused != nil {
		s.refused(OffloadSegment, fmt.Errorf("send %d datagrams of %d bytes to %v as one UDP_SEGMENT message: %w", k, size, dst, err))
	}
}

// enableOffload turns on UDP_GRO and probes UDP_SEGMENT, and returns why
// the kernel refused each (nil: granted).
func enableOffload(conn *net.UDPConn) (gsoErr, groErr error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err, err
	}
	if err := raw.Control(func(fd uintptr) { gsoErr, groErr = offloadSockopts(int(fd)) }); err != nil {
		return err, err
	}
	if gsoErr != nil {
		gsoErr = fmt.Errorf("getsockopt UDP_SEGMENT: %w", gsoErr)
	}
	if groErr != nil {
		groErr = fmt.Errorf("setsockopt UDP_GRO: %w", groErr)
	}
	return gsoErr, groErr
}

// offloadSockopts asks the kernel for the offloads on socket fd. Tests
// replace it to play a kernel without them.
var offloadSockopts = func(fd int) (gsoErr, groErr error) {
	_, gsoErr = unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	return gsoErr, unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1)
}

// putSegmentCmsg writes a UDP_SEGMENT control message for datagrams of size
// bytes into b, which is segmentCmsgLen long.
func putSegmentCmsg(b []byte, size int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
}

// groSize returns the datagram size of a UDP_GRO control message in oob, or
// 0 when there is none (the buffer holds one datagram).
func groSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 4 {
			return int(binary.NativeEndian.Uint32(data))
		}
		oob = rest
	}
	return 0
}

// gsoGroup returns how many datagrams from the start of bufs (each at
// offset) one UDP_SEGMENT send can carry: the same destination, the same
// size except a shorter last one, within the kernel's limits, and the same
// steering key, since a receiver with several queues (ListenQueues) takes a
// run whole on the queue its first datagram's inner flow picks. It returns
// 1 when the first cannot go with any other.
func gsoGroup(bufs [][]byte, to []netip.AddrPort, offset int) int {
	size := len(bufs[0]) - offset
	if size == 0 {
		return 1
	}
	n, total := 1, size
	key := steerKey(bufs[0][offset:])
	for n < len(bufs) && n < maxGSOSegments && to[n] == to[0] {
		l := len(bufs[n]) - offset
		if l == 0 || l > size || total+l > maxGSOBytes || steerKey(bufs[n][offset:]) != key {
			break
		}
		n, total = n+1, total+l
		if l < size {
			break // a shorter datagram ends a run
		}
	}
	return n
}

// sender is one set of preallocated messages for sendmmsg.
type sender struct {
	msgs   []ipv4.Message
	addrs  []net.UDPAddr // msgs[i].Addr is &addrs[i]
	iovs   [][]byte      // msgs[i].Buffers are windows on it
	oobs   [][]byte      // a UDP_SEGMENT control message per message
	counts []int         // datagrams in msgs[i]
	first  []int         // index in the caller's batch of msgs[i]'s first datagram
}

func newSender(n int) *sender {
	s := &sender{
		msgs: make([]ipv4.Message, n), addrs: make([]net.UDPAddr, n), iovs: make([][]byte, n),
		oobs: make([][]byte, n), counts: make([]int, n), first: make([]int, n),
	}
	ips := make([][16]byte, n)
	oob := make([]byte, n*segmentCmsgLen)
	for i := range s.msgs {
		s.addrs[i].IP = ips[i][:]
		s.msgs[i].Addr = &s.addrs[i]
		s.oobs[i] = oob[i*segmentCmsgLen : (i+1)*segmentCmsgLen : (i+1)*segmentCmsgLen]
	}
	return s
}

// pack fills s's messages with bufs, one datagram each, or runs of them
// with UDP_SEGMENT when gso is set, and returns how many messages it used.
func (s *sender) pack(bufs [][]byte, to []netip.AddrPort, offset int, gso bool) int {
	m := 0
	for i := 0; i < len(bufs); m++ {
		k := 1
		if gso {
			k = gsoGroup(bufs[i:], to[i:], offset)
		}
		iov := s.iovs[i : i+k]
		for j := range iov {
			iov[j] = bufs[i+j][offset:]
		}
		msg := &s.msgs[m]
		msg.Buffers, msg.OOB = iov, nil
		if k > 1 {
			putSegmentCmsg(s.oobs[m], len(iov[0]))
			msg.OOB = s.oobs[m]
		}
		setUDPAddr(&s.addrs[m], to[i])
		s.counts[m], s.first[m] = k, i
		i += k
	}
	return m
}

// clear drops the references to the caller's buffers, since a Conn never
// retains them.
func (s *sender) clear(m int) {
	clear(s.iovs)
	for i := range s.msgs[:m] {
		s.msgs[i].Buffers, s.msgs[i].OOB = nil, nil
	}
}

// gsoRefused reports whether a send failed because of its UDP_SEGMENT
// request, so that its datagrams should be sent one by one: EIO where an
// IPsec transform applies to the route or (on older kernels) the route's
// device cannot checksum for it, EINVAL where a datagram would not
// fit the path MTU, EMSGSIZE where the run is too long for this kernel.
func gsoRefused(err error) (disable, retry bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false, false
	}
	switch errno {
	case syscall.EIO:
		return true, true
	case syscall.EINVAL, syscall.EMSGSIZE:
		return false, true
	}
	return false, false
}
