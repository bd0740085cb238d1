//go:build !linux

package encap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// UDPConn is a Conn on a UDP socket. This portable version moves one datagram
// per system call; the Linux one batches them with recvmmsg and sendmmsg.
type UDPConn struct {
	conn   *net.UDPConn
	local  netip.AddrPort
	closer closer
}

// Listen binds a UDP socket to addr (port 0 picks a free port). batch must be
// at least 1 but is otherwise ignored: BatchSize is 1. An IPv4 addr gives an
// IPv4 socket; an IPv6 one an IPv6 socket, dual-stack for [::]. It asks for
// 4 MiB socket buffers, which the kernel may cap. opts are accepted for
// the Linux version's sake: this one has no offloads to refuse.
func Listen(addr netip.AddrPort, batch int, opts ...Option) (*UDPConn, error) {
	conn, local, err := listenUDP(addr, batch, nil)
	if err != nil {
		return nil, err
	}
	return &UDPConn{conn: conn, local: local}, nil
}

// ReadBatch implements Conn, reading one datagram per call.
func (c *UDPConn) ReadBatch(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		n, ap, err := c.conn.ReadFromUDPAddrPort(bufs[0][offset:])
		if err == nil {
			sizes[0], from[0] = n, unmap(ap)
			return 1, nil
		}
		if !isAsyncICMPError(err) {
			return 0, err
		}
	}
}

// WriteBatch implements Conn, one system call per datagram. A datagram failing
// with an error an ICMP message may have left on the socket is retried once.
func (c *UDPConn) WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	sent := 0
	var first error
	for i, b := range bufs {
		_, err := c.conn.WriteToUDPAddrPort(b[offset:], to[i])
		if err != nil && isAsyncICMPError(err) {
			// Possibly left by an earlier ICMP message; reporting cleared it.
			_, err = c.conn.WriteToUDPAddrPort(b[offset:], to[i])
		}
		switch {
		case err == nil:
			sent++
		case errors.Is(err, net.ErrClosed):
			return sent, err
		case first == nil:
			first = fmt.Errorf("encap: send %d bytes to %v: %w", len(b)-offset, to[i], err)
		}
	}
	return sent, first
}

// isAsyncICMPError reports whether err may be an error that an ICMP message
// left on the socket rather than a fault of the datagram or the socket.
func isAsyncICMPError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// LocalAddr implements Conn.
func (c *UDPConn) LocalAddr() netip.AddrPort { return c.local }

// BatchSize implements Conn. It is always 1.
func (c *UDPConn) BatchSize() int { return 1 }

// Close implements Conn.
func (c *UDPConn) Close() error { return c.closer.close(c.conn) }

// Offload reports whether sends use UDP_SEGMENT and reads UDP_GRO: never,
// on this platform.
func (c *UDPConn) Offload() (gso, gro bool) { return false, false }

// DisableOffload does nothing: this platform has no UDP offloads.
func (c *UDPConn) DisableOffload() error { return nil }

// ListenQueues binds one socket: this platform has no SO_REUSEPORT group
// steering, so n must be 1.
func ListenQueues(addr netip.AddrPort, batch, n int, opts ...Option) ([]*UDPConn, error) {
	if n != 1 {
		return nil, fmt.Errorf("encap: listen %v: %d queues need Linux", addr, n)
	}
	c, err := Listen(addr, batch, opts...)
	if err != nil {
		return nil, err
	}
	return []*UDPConn{c}, nil
}

// setBuffers asks for socketBufferSize of receive and send buffer.
func setBuffers(c *net.UDPConn) error {
	return errors.Join(c.SetReadBuffer(socketBufferSize), c.SetWriteBuffer(socketBufferSize))
}
