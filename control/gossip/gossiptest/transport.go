package gossiptest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// packetQueue is how many packets a transport holds for memberlist before
// it drops new ones, as a full socket buffer would.
const packetQueue = 1024

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Transport is one node's attachment to a Network. It implements
// memberlist.NodeAwareTransport: packets are copied into the receiver's
// queue, streams are net.Pipe pairs. Shutdown detaches it at once, closing
// its open streams, which is how a test simulates a SIGKILLed host.
type Transport struct {
	net     *Network
	addr    netip.AddrPort
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once

	mu    sync.Mutex
	conns map[*conn]struct{} // open stream ends owned by this node
}

func newTransport(n *Network, addr netip.AddrPort) *Transport {
	return &Transport{
		net:     n,
		addr:    addr,
		packets: make(chan *memberlist.Packet, packetQueue),
		streams: make(chan net.Conn),
		done:    make(chan struct{}),
		conns:   make(map[*conn]struct{}),
	}
}

// Addr returns the node's address on the network.
func (t *Transport) Addr() netip.AddrPort { return t.addr }

// FinalAdvertiseAddr returns the transport's own address; the arguments are
// ignored because the network chose the address.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.addr.Addr().AsSlice(), int(t.addr.Port()), nil
}

// WriteTo sends a copy of b to addr. Like UDP, it succeeds when nobody is
// there or the receiver's queue is full; the packet is then lost.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	if t.closed() {
		return now, fmt.Errorf("write to %s: %w", addr, net.ErrClosed)
	}
	dest := t.net.packetDest(t.addr, addr)
	if dest == nil {
		return now, nil
	}
	p := &memberlist.Packet{
		Buf:       append([]byte(nil), b...),
		From:      net.UDPAddrFromAddrPort(t.addr),
		Timestamp: now,
	}
	select {
	case dest.packets <- p:
	default:
		t.net.dropped.Add(1)
	}
	return now, nil
}

// WriteToAddress sends b to a.Addr; the node name is not needed here.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

// PacketCh returns the queue of packets sent to this node.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh returns the streams other nodes opened to this one.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streams }

// DialTimeout opens a stream to addr. It fails at once when nothing runs
// there, and after timeout (if positive) when the node does not accept.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.closed() {
		return nil, fmt.Errorf("dial %s: %w", addr, net.ErrClosed)
	}
	dest := t.net.lookup(addr)
	if dest == nil {
		return nil, dialError(addr)
	}
	near, far := net.Pipe()
	local := t.track(near, dest.addr)
	remote := dest.track(far, t.addr)
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case dest.streams <- remote:
		return local, nil
	case <-dest.done:
	case <-t.done:
	case <-expired:
	}
	local.Close()
	remote.Close()
	return nil, dialError(addr)
}

// DialAddressTimeout is DialTimeout to a.Addr.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown detaches the node from the network and closes its open streams.
// It is safe to call more than once.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		t.net.remove(t)
		t.mu.Lock()
		open := make([]*conn, 0, len(t.conns))
		for c := range t.conns {
			open = append(open, c)
		}
		t.mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	return nil
}

func (t *Transport) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// track wraps one end of a pipe owned by t so that Shutdown can close it.
func (t *Transport) track(c net.Conn, peer netip.AddrPort) *conn {
	w := &conn{Conn: c, owner: t, local: net.TCPAddrFromAddrPort(t.addr), remote: net.TCPAddrFromAddrPort(peer)}
	t.mu.Lock()
	t.conns[w] = struct{}{}
	t.mu.Unlock()
	return w
}

func (t *Transport) untrack(c *conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// conn is a pipe end that reports TCP addresses and forgets itself on Close.
type conn struct {
	net.Conn
	owner         *Transport
	local, remote net.Addr
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) Close() error {
	c.owner.untrack(c)
	return c.Conn.Close()
}
