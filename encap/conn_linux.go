//go:build linux

package encap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// UDPConn is a Conn on a UDP socket that moves up to BatchSize datagrams per
// system call with recvmmsg and sendmmsg.
//
// Known allocation: x/net's ReadBatch allocates a *net.UDPAddr and its IP for
// every datagram received, to report the sender. Removing it needs our own
// recvmmsg that parses the sockaddrs in place.
type UDPConn struct {
	conn   *net.UDPConn
	pc     batchConn
	local  netip.AddrPort
	closer closer

	rmu   sync.Mutex
	rmsgs []ipv4.Message

	wmu    sync.Mutex
	wmsgs  []ipv4.Message
	waddrs []net.UDPAddr // wmsgs[i].Addr is &waddrs[i]
}

// batchConn is what ipv4.PacketConn and ipv6.PacketConn have in common;
// ipv4.Message and ipv6.Message are the same type.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Listen binds a UDP socket to addr (port 0 picks a free port) for batches of
// up to batch datagrams per system call. An IPv4 addr gives an IPv4 socket;
// an IPv6 one an IPv6 socket, dual-stack for [::]. It asks for 4 MiB socket
// buffers, which the kernel caps at net.core.rmem_max and wmem_max.
func Listen(addr netip.AddrPort, batch int) (*UDPConn, error) {
	conn, local, err := listenUDP(addr, batch)
	if err != nil {
		return nil, err
	}
	c := &UDPConn{
		conn:   conn,
		local:  local,
		rmsgs:  newMessages(batch),
		wmsgs:  newMessages(batch),
		waddrs: make([]net.UDPAddr, batch),
	}
	if local.Addr().Is4() {
		c.pc = ipv4.NewPacketConn(conn)
	} else {
		c.pc = ipv6.NewPacketConn(conn)
	}
	ips := make([][16]byte, batch)
	for i := range c.waddrs {
		c.waddrs[i].IP = ips[i][:]
		c.wmsgs[i].Addr = &c.waddrs[i]
	}
	return c, nil
}

// newMessages returns n messages, each with room for one buffer.
func newMessages(n int) []ipv4.Message {
	ms := make([]ipv4.Message, n)
	bufs := make([][]byte, n)
	for i := range ms {
		ms[i].Buffers = bufs[i : i+1 : i+1]
	}
	return ms
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
	ms := c.rmsgs[:min(len(bufs), len(c.rmsgs))]
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		ms[i].Buffers[0] = bufs[i][offset:]
	}
	defer clearMessages(ms)
	n, err := c.pc.ReadBatch(ms, 0)
	for err != nil && isAsyncICMPError(err) {
		n, err = c.pc.ReadBatch(ms, 0)
	}
	if err != nil {
		return 0, err
	}
	for i := range n {
		sizes[i] = ms[i].N
		from[i] = addrPortOf(ms[i].Addr)
		ms[i].Addr = nil
	}
	return n, nil
}

// WriteBatch implements Conn. sendmmsg may send part of a batch; WriteBatch
// calls it again for the rest. When it fails on the first datagram left, that
// datagram is skipped and the rest sent, as Conn describes. An error an
// earlier ICMP message left on the socket is reported by the next send,
// whatever its destination, so a datagram failing with one of those errors
// is retried once before it is skipped.
func (c *UDPConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	sent := 0
	var first error
	for start := 0; start < len(bufs); start += len(c.wmsgs) {
		chunk := bufs[start:min(len(bufs), start+len(c.wmsgs))]
		n, err := c.writeChunk(chunk, to[start:], offset)
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

// writeChunk sends up to len(c.wmsgs) datagrams and returns how many were
// sent and the first error.
func (c *UDPConn) writeChunk(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	ms := c.wmsgs[:len(bufs)]
	for i := range ms {
		ms[i].Buffers[0] = bufs[i][offset:]
		setUDPAddr(&c.waddrs[i], to[i])
	}
	defer clearMessages(ms)
	sent, retried := 0, -1
	var first error
	for i := 0; i < len(ms); {
		n, err := c.pc.WriteBatch(ms[i:], 0)
		n = max(n, 0) // -1 on error
		sent += n
		i += n
		if (err == nil && n > 0) || i == len(ms) {
			continue
		}
		if err == nil {
			err = errors.New("sendmmsg sent nothing")
		}
		if errors.Is(err, net.ErrClosed) {
			return sent, err
		}
		if isAsyncICMPError(err) && retried != i {
			retried = i // possibly stale: reporting it cleared it
			continue
		}
		if first == nil {
			first = fmt.Errorf("encap: send %d bytes to %v: %w", len(ms[i].Buffers[0]), to[i], err)
		}
		i++ // skip the datagram the error concerns
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

// clearMessages drops the references to the caller's buffers, since a Conn
// never retains them.
func clearMessages(ms []ipv4.Message) {
	for i := range ms {
		ms[i].Buffers[0] = nil
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	ua, ok := a.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	return unmap(ua.AddrPort())
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
func (c *UDPConn) BatchSize() int { return len(c.rmsgs) }

// Close implements Conn.
func (c *UDPConn) Close() error { return c.closer.close(c.conn) }
