//go:build linux

package encap

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// UDPConn is a Conn on a UDP socket that moves up to BatchSize datagrams per
// system call with recvmmsg and sendmmsg. Where the kernel allows, it also
// sends runs of datagrams of one size to one destination as one UDP_SEGMENT
// message, and reads runs coalesced by UDP_GRO (see offload_linux.go).
//
// Reads use recvmmsg directly (recvmmsg_linux.go), sends x/net's
// WriteBatch; neither allocates.
type UDPConn struct {
	conn   *net.UDPConn
	pc     batchConn
	local  netip.AddrPort
	batch  int
	closer closer

	rmu   sync.Mutex
	recv  *receiver
	rview [][]byte // the caller's buffers past the offset
	gro   atomic.Bool
	// With UDP_GRO, messages are read into the conn's own buffers, where a
	// coalesced run fills one, and handed out one datagram per caller
	// buffer: message next, from byte roff, is the next datagram.
	runs  [][]byte
	roobs [][]byte
	rlen  []int // bytes in runs[i]
	rseg  []int // datagram size in runs[i]; 0 for a single datagram
	rfrom []netip.AddrPort
	next  int
	count int
	roff  int
	// What reads have seen, for tests: messages, and runs of several
	// datagrams among them.
	readMsgs, readCoalesced int

	wmu   sync.Mutex
	off   *offloadSet // UDP_SEGMENT's state, shared with the socket's set
	wsend *sender     // messages of WriteBatch
	wsolo *sender     // a refused UDP_SEGMENT run, resent one by one
}

// batchConn is the sending side ipv4.PacketConn and ipv6.PacketConn have in
// common; ipv4.Message and ipv6.Message are the same type.
type batchConn interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Listen binds a UDP socket to addr (port 0 picks a free port) for batches of
// up to batch datagrams per system call. An IPv4 addr gives an IPv4 socket;
// an IPv6 one an IPv6 socket, dual-stack for [::]. It asks for 4 MiB socket
// buffers, which the kernel caps at net.core.rmem_max and wmem_max, and
// turns on UDP_SEGMENT sends and UDP_GRO receives where the kernel has them
// (see WithOffloadRefused).
func Listen(addr netip.AddrPort, batch int, opts ...Option) (*UDPConn, error) {
	conn, local, err := listenUDP(addr, batch, nil)
	if err != nil {
		return nil, err
	}
	set := newOffloadSet(opts)
	c, err := newUDPConn(conn, local, batch, set)
	if err != nil {
		conn.Close()
		return nil, err
	}
	set.reportOpen()
	return c, nil
}

// newUDPConn wraps a bound socket, a member of the offload set set.
func newUDPConn(conn *net.UDPConn, local netip.AddrPort, batch int, set *offloadSet) (*UDPConn, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &UDPConn{
		conn:  conn,
		local: local,
		batch: batch,
		recv:  newReceiver(rc, batch),
		rview: make([][]byte, batch),
		off:   set,
		wsend: newSender(batch),
		wsolo: newSender(batch),
	}
	if local.Addr().Is4() {
		c.pc = ipv4.NewPacketConn(conn)
	} else {
		c.pc = ipv6.NewPacketConn(conn)
	}
	gsoErr, groErr := enableOffload(conn)
	set.opened(gsoErr, groErr)
	c.gro.Store(groErr == nil)
	if groErr == nil {
		c.runs, c.roobs = make([][]byte, batch), make([][]byte, batch)
		c.rlen, c.rseg, c.rfrom = make([]int, batch), make([]int, batch), make([]netip.AddrPort, batch)
		for i := range c.runs {
			c.runs[i] = make([]byte, groBufferLen)
			c.roobs[i] = make([]byte, groCmsgSpace)
		}
	}
	return c, nil
}

// Offload reports whether sends use UDP_SEGMENT and reads UDP_GRO. A send
// that the kernel refuses with EIO turns UDP_SEGMENT off for good, on every
// socket of the set (see WithOffloadRefused).
func (c *UDPConn) Offload() (gso, gro bool) {
	return c.off.gso.Load(), c.gro.Load()
}

// DisableOffload turns UDP_SEGMENT off for every socket of the set and
// UDP_GRO off for this one: every datagram is then sent and read on its
// own, as for benchmarking without them. It is not a refusal: nothing is
// reported. Call it before the first read.
func (c *UDPConn) DisableOffload() error {
	c.off.gso.Store(false)
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.gro.Load() {
		return nil
	}
	raw, err := c.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 0)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("encap: turn off UDP_GRO: %w", serr)
	}
	c.gro.Store(false)
	return nil
}

// ReadBatch implements Conn. It reads at most BatchSize datagrams per call.
//
// The asynchronous errors it absorbs are those the kernel derives from ICMP
// messages (port, host or network unreachable, fragmentation needed, ...).
// Reporting such an error clears it, so retrying cannot spin without fresh
// ICMP messages arriving.
func (c *UDPConn) ReadBatch(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	bufs = bufs[:min(len(bufs), c.batch)]
	if len(bufs) == 0 {
		return 0, nil
	}
	if !c.gro.Load() {
		return c.readDirect(bufs, sizes, from, offset)
	}
	if c.next == c.count {
		if err := c.readRuns(); err != nil {
			return 0, err
		}
	}
	return c.handOut(bufs, sizes, from, offset), nil
}

// readDirect reads datagrams straight into the caller's buffers.
func (c *UDPConn) readDirect(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error) {
	view := c.rview[:len(bufs)]
	for i := range view {
		view[i] = bufs[i][offset:]
	}
	n, err := c.read(view, nil)
	clear(view)
	if err != nil {
		return 0, err
	}
	for i := range n {
		sizes[i] = min(c.recv.size(i), len(bufs[i])-offset)
		from[i] = c.recv.from(i)
	}
	return n, nil
}

// read calls recvmmsg until it reads something or fails for real.
func (c *UDPConn) read(bufs, oobs [][]byte) (int, error) {
	n, err := c.recv.read(bufs, oobs)
	for err != nil && isAsyncICMPError(err) {
		n, err = c.recv.read(bufs, oobs)
	}
	if errors.Is(err, fs.ErrClosed) {
		err = net.ErrClosed
	}
	return n, err
}

// readRuns reads messages, coalesced runs or single datagrams, into the
// conn's own buffers.
func (c *UDPConn) readRuns() error {
	n, err := c.read(c.runs, c.roobs)
	if err != nil {
		return err
	}
	for i := range n {
		c.rlen[i] = min(c.recv.size(i), len(c.runs[i]))
		c.rseg[i] = groSize(c.roobs[i][:min(c.recv.oobLen(i), len(c.roobs[i]))])
		if seg := c.rseg[i]; seg > 0 && c.recv.truncated(i) {
			c.rlen[i] -= c.rlen[i] % seg // keep only whole datagrams
		}
		c.rfrom[i] = c.recv.from(i)
		c.readMsgs++
		if seg := c.rseg[i]; seg > 0 && c.rlen[i] > seg {
			c.readCoalesced++
		}
	}
	c.next, c.count, c.roff = 0, n, 0
	return nil
}

// handOut copies the datagrams read but not yet returned into bufs, one
// each, and returns how many.
func (c *UDPConn) handOut(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) int {
	n := 0
	for n < len(bufs) && c.next < c.count {
		run := c.runs[c.next][c.roff:c.rlen[c.next]]
		d := run
		if seg := c.rseg[c.next]; seg > 0 && seg < len(run) {
			d = run[:seg]
		}
		sizes[n] = copy(bufs[n][offset:], d)
		from[n] = c.rfrom[c.next]
		n++
		if c.roff += len(d); c.roff >= c.rlen[c.next] {
			c.next, c.roff = c.next+1, 0
		}
	}
	return n
}

// WriteBatch implements Conn. sendmmsg may send part of a batch; WriteBatch
// calls it again for the rest. When it fails on the first message left, that
// message is skipped and the rest sent, as Conn describes. An error an
// earlier ICMP message left on the socket is reported by the next send,
// whatever its destination, so a message failing with one of those errors
// is retried once before it is skipped. A UDP_SEGMENT run the kernel
// refuses is sent again one datagram at a time.
func (c *UDPConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent := 0
	var first error
	for start := 0; start < len(bufs); start += c.batch {
		end := min(len(bufs), start+c.batch)
		n, err := c.writeChunk(c.wsend, bufs[start:end], to[start:], offset, c.off.gso.Load())
		sent += n
		if errors.Is(err, net.ErrClosed) {
			return sent, err
		}
		if first == nil {
			first = err
		}
	}
	return sent, first
}

// writeChunk sends up to c.batch datagrams with s's messages and returns how
// many were sent and the first error.
func (c *UDPConn) writeChunk(s *sender, bufs [][]byte, to []netip.AddrPort, offset int, gso bool) (int, error) {
	m := s.pack(bufs, to, offset, gso)
	defer s.clear(m)
	ms := s.msgs[:m]
	sent, retried := 0, -1
	var first error
	for j := 0; j < m; {
		n, err := c.pc.WriteBatch(ms[j:], 0)
		n = max(n, 0) // -1 on error
		for _, k := range s.counts[j : j+n] {
			sent += k
		}
		j += n
		if (err == nil && n > 0) || j == m {
			continue
		}
		if err == nil {
			err = errSentNothing
		}
		if errors.Is(err, net.ErrClosed) {
			return sent, err
		}
		if isAsyncICMPError(err) && retried != j {
			retried = j // possibly stale: reporting it cleared it
			continue
		}
		i, k := s.first[j], s.counts[j]
		if disable, retry := gsoRefused(err); retry && k > 1 {
			if disable {
				c.off.refuseGSO(err, k, len(bufs[i])-offset, to[i])
			}
			solo, serr := c.writeChunk(c.wsolo, bufs[i:i+k], to[i:i+k], offset, false)
			sent += solo
			if errors.Is(serr, net.ErrClosed) {
				return sent, serr
			}
			err = serr
		} else {
			err = fmt.Errorf("encap: send %d datagrams of %d bytes to %v: %w", k, len(bufs[i])-offset, to[i], err)
		}
		if first == nil {
			first = err
		}
		j++ // skip the message the error concerns
	}
	return sent, first
}

// setUDPAddr fills a, whose IP has a 16-byte backing array, without
// allocating. An IPv4 address is stored IPv4-mapped, which x/net sends as
// AF_INET.
func setUDPAddr(a *net.UDPAddr, ap netip.AddrPort) {
	*(*[16]byte)(a.IP) = ap.Addr().As16()
	a.Port = int(ap.Port())
	a.Zone = ap.Addr().Zone()
}

// asyncICMPErrors are the errno values Linux converts ICMP and ICMPv6 errors
// to (icmp_err_convert, icmpv6_err_convert) and leaves on a UDP socket.
var asyncICMPErrors = [...]syscall.Errno{
	syscall.ECONNREFUSED,
	syscall.EHOSTUNREACH,
	syscall.ENETUNREACH,
	syscall.ENOPROTOOPT,
	syscall.EOPNOTSUPP,
	syscall.EPROTO,
	syscall.EMSGSIZE,
	syscall.EACCES,
}

// isAsyncICMPError reports whether err may be an error that an ICMP message
// left on the socket rather than a fault of the datagram or the socket.
func isAsyncICMPError(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	for _, e := range asyncICMPErrors {
		if errno == e {
			return true
		}
	}
	return false
}

// LocalAddr implements Conn.
func (c *UDPConn) LocalAddr() netip.AddrPort { return c.local }

// BatchSize implements Conn.
func (c *UDPConn) BatchSize() int { return c.batch }

// Close implements Conn.
func (c *UDPConn) Close() error { return c.closer.close(c.conn) }

// setBuffers sizes the socket's buffers at socketBufferSize for bursts: a
// receive buffer holds only a few coalesced 64 KB runs at the kernel's
// default cap (net.core.rmem_max, often 208 KB). With CAP_NET_ADMIN,
// SO_RCVBUFFORCE and SO_SNDBUFFORCE pass the cap; without it the sizes
// are asked for plainly, and capped.
func setBuffers(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var rerr, werr error
	if err := raw.Control(func(fd uintptr) {
		rerr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufferSize)
		werr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufferSize)
	}); err != nil {
		return err
	}
	if rerr != nil {
		rerr = c.SetReadBuffer(socketBufferSize)
	}
	if werr != nil {
		werr = c.SetWriteBuffer(socketBufferSize)
	}
	return errors.Join(rerr, werr)
}
