package encap

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// socketBufferSize is the SO_RCVBUF and SO_SNDBUF asked for. The kernel caps
// it at net.core.rmem_max and net.core.wmem_max.
const socketBufferSize = 4 << 20

var _ Conn = (*UDPConn)(nil)

// listenUDP binds a UDP socket to addr and sizes its buffers. An IPv4 address
// gets an IPv4 socket; an IPv6 one gets an IPv6 socket, which is dual-stack
// when addr is [::].
//
// control, if not nil, is called on the socket before it is bound, as
// net.ListenConfig's Control is.
func listenUDP(addr netip.AddrPort, batch int, control func(network, address string, c syscall.RawConn) error) (*net.UDPConn, netip.AddrPort, error) {
	if !addr.Addr().IsValid() {
		return nil, netip.AddrPort{}, fmt.Errorf("encap: listen %v: invalid address", addr)
	}
	if batch < 1 {
		return nil, netip.AddrPort{}, fmt.Errorf("encap: listen %v: batch size %d, want at least 1", addr, batch)
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	network := "udp"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	lc := net.ListenConfig{Control: control}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("encap: listen %v: %w", addr, err)
	}
	c := pc.(*net.UDPConn)
	if err := setBuffers(c); err != nil {
		c.Close()
		return nil, netip.AddrPort{}, fmt.Errorf("encap: listen %v: %w", addr, err)
	}
	local := unmap(c.LocalAddr().(*net.UDPAddr).AddrPort())
	return c, local, nil
}

// unmap turns an IPv4-mapped IPv6 address into a plain IPv4 one.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// closer closes a socket once and reports the first Close's error.
type closer struct {
	once sync.Once
	err  error
}

func (c *closer) close(conn *net.UDPConn) error {
	c.once.Do(func() { c.err = conn.Close() })
	return c.err
}
