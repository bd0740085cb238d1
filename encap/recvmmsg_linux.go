//go:build linux

package encap

import (
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiver reads datagrams with recvmmsg(2) into preallocated headers, so
// that a read allocates nothing: x/net's ReadBatch allocates a *UDPAddr per
// message to report its sender.
type receiver struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family

	// One call's arguments and results, for readFn, which the poller calls.
	count  int
	n      int
	err    error
	readFn func(fd uintptr) bool
}

func newReceiver(rc syscall.RawConn, n int) *receiver {
	r := &receiver{rc: rc, hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrInet6, n)}
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Iov = &r.iovs[i]
		r.hdrs[i].Hdr.SetIovlen(1)
	}
	r.readFn = r.readOnce
	return r
}

// read receives up to len(bufs) datagrams, datagram i into bufs[i] with its
// control messages in oobs[i] when oobs is not nil, and returns how many. It
// waits through the poller until one is there.
func (r *receiver) read(bufs, oobs [][]byte) (int, error) {
	count := min(len(bufs), len(r.hdrs))
	for i := range count {
		h := &r.hdrs[i].Hdr
		r.iovs[i].Base = nil
		if len(bufs[i]) > 0 {
			r.iovs[i].Base = &bufs[i][0]
		}
		r.iovs[i].SetLen(len(bufs[i]))
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Control = nil
		h.SetControllen(0)
		if oobs != nil && len(oobs[i]) > 0 {
			h.Control = &oobs[i][0]
			h.SetControllen(len(oobs[i]))
		}
		h.Flags = 0
		r.hdrs[i].Len = 0
	}
	r.count, r.n, r.err = count, 0, nil
	if err := r.rc.Read(r.readFn); err != nil {
		return 0, err
	}
	for i := range count { // hold no caller buffer
		r.iovs[i].Base = nil
		r.hdrs[i].Hdr.Control = nil
	}
	return r.n, r.err
}

// readOnce is one recvmmsg; it returns false, asking the poller to wait,
// when nothing is there.
func (r *receiver) readOnce(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.count), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.n = int(n)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.err = errno
		}
		return true
	}
}

// size, oobLen, truncated and from report on datagram i of the last read.
func (r *receiver) size(i int) int       { return int(r.hdrs[i].Len) }
func (r *receiver) oobLen(i int) int     { return int(r.hdrs[i].Hdr.Controllen) }
func (r *receiver) truncated(i int) bool { return r.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 }

func (r *receiver) from(i int) netip.AddrPort {
	sa := &r.names[i]
	port := func(p uint16) uint16 { // stored in network byte order
		b := (*[2]byte)(unsafe.Pointer(&p))
		return uint16(b[0])<<8 | uint16(b[1])
	}
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(sa4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port(sa.Port))
	}
	return netip.AddrPort{}
}
