// Package encaptest provides an in-memory underlay for tests: Conns that
// exchange datagrams through a Network without any socket.
package encaptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/weftnet/weft/encap"
)

// QueueLen is how many datagrams a Conn holds for reading; it drops and counts
// any more, as a full socket buffer would.
const QueueLen = 1024

// ErrAddrInUse is returned by Listen for an address already bound.
var ErrAddrInUse = errors.New("address already in use")

// Port range Listen picks from for port 0.
const (
	firstEphemeral = 49152
	lastEphemeral  = 65535
)

// Network is an in-memory underlay joining the Conns bound on it. Its methods
// are safe for concurrent use.
type Network struct {
	mu       sync.Mutex
	conns    map[netip.AddrPort]*Conn
	nextPort uint16
}

// NewNetwork returns an empty Network.
func NewNetwork() *Network {
	return &Network{conns: make(map[netip.AddrPort]*Conn), nextPort: firstEphemeral}
}

// Listen binds a Conn to addr, which must be a valid address; port 0 picks a
// free port. ReadBatch returns at most batch datagrams per call. An
// IPv4-mapped IPv6 address is bound as IPv4.
func (n *Network) Listen(addr netip.AddrPort, batch int) (*Conn, error) {
	addr = unmap(addr)
	if !addr.Addr().IsValid() {
		return nil, fmt.Errorf("encaptest: listen %v: invalid address", addr)
	}
	if batch < 1 {
		return nil, fmt.Errorf("encaptest: listen %v: batch size %d, want at least 1", addr, batch)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr.Port() == 0 {
		port, ok := n.freePort(addr.Addr())
		if !ok {
			return nil, fmt.Errorf("encaptest: listen %v: no free port", addr)
		}
		addr = netip.AddrPortFrom(addr.Addr(), port)
	}
	if _, ok := n.conns[addr]; ok {
		return nil, fmt.Errorf("encaptest: listen %v: %w", addr, ErrAddrInUse)
	}
	c := &Conn{network: n, local: addr, batch: batch, ready: make(chan struct{}, 1), done: make(chan struct{})}
	n.conns[addr] = c
	return c, nil
}

// freePort returns an ephemeral port not bound on ip. n.mu must be held.
func (n *Network) freePort(ip netip.Addr) (uint16, bool) {
	for range lastEphemeral - firstEphemeral + 1 {
		p := n.nextPort
		n.nextPort++
		if n.nextPort == 0 {
			n.nextPort = firstEphemeral
		}
		if _, ok := n.conns[netip.AddrPortFrom(ip, p)]; !ok {
			return p, true
		}
	}
	return 0, false
}

// lookup returns the Conn bound to to, or to the unspecified address of its
// family on its port, or nil.
func (n *Network) lookup(to netip.AddrPort) *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.conns[to]; ok {
		return c
	}
	wildcard := netip.IPv6Unspecified()
	if to.Addr().Is4() {
		wildcard = netip.IPv4Unspecified()
	}
	return n.conns[netip.AddrPortFrom(wildcard, to.Port())]
}

func (n *Network) unbind(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.local] == c {
		delete(n.conns, c.local)
	}
}

// Conn is an encap.Conn on a Network. A datagram written to an address is
// copied to the Conn bound there, with the writer's LocalAddr as its sender;
// with none bound it is dropped silently, like UDP. Its methods are safe for
// concurrent use. After warm-up it allocates nothing per datagram.
type Conn struct {
	network *Network
	local   netip.AddrPort
	batch   int

	ready chan struct{} // holds a token while the queue may be non-empty
	done  chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	queue   [QueueLen]datagram // ring: n datagrams from head
	head, n int
	dropped uint64
}

var _ encap.Conn = (*Conn)(nil)

type datagram struct {
	b    []byte // reused from one datagram to the next
	from netip.AddrPort
}

// ReadBatch implements encap.Conn: it returns every queued datagram, up to
// min(len(bufs), BatchSize()), blocking while none is queued.
func (c *Conn) ReadBatch(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error) {
	for {
		n, err := c.dequeue(bufs, sizes, from, offset)
		if n > 0 || err != nil || len(bufs) == 0 {
			return n, err
		}
		select {
		case <-c.ready:
		case <-c.done:
		}
	}
}

func (c *Conn) dequeue(bufs [][]byte, sizes []int, from []netip.AddrPort, offset int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, c.closedError("read")
	}
	k := min(len(bufs), c.batch, c.n)
	for i := range k {
		d := &c.queue[c.head]
		sizes[i] = copy(bufs[i][offset:], d.b)
		from[i] = d.from
		c.head = (c.head + 1) % QueueLen
	}
	c.n -= k
	if c.n == 0 {
		c.head = 0 // reuse the slots whose buffers have grown
	} else {
		c.signal() // wake another reader for the rest
	}
	return k, nil
}

// WriteBatch implements encap.Conn. Every datagram counts as sent, whether or
// not a Conn is bound at its destination.
func (c *Conn) WriteBatch(bufs [][]byte, to []netip.AddrPort, offset int) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, c.closedError("write")
	}
	for i, b := range bufs {
		if dst := c.network.lookup(unmap(to[i])); dst != nil {
			dst.deliver(b[offset:], c.local)
		}
	}
	return len(bufs), nil
}

// Inject queues a copy of b for ReadBatch as if from had sent it. It is
// dropped like any other datagram when the queue is full or c is closed.
func (c *Conn) Inject(b []byte, from netip.AddrPort) {
	c.deliver(b, unmap(from))
}

func (c *Conn) deliver(b []byte, from netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.n == QueueLen {
		c.dropped++
		return
	}
	d := &c.queue[(c.head+c.n)%QueueLen]
	d.b = append(d.b[:0], b...)
	d.from = from
	c.n++
	c.signal()
}

// signal leaves a token for a blocked ReadBatch.
func (c *Conn) signal() {
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// Dropped returns how many datagrams arrived while the queue was full.
func (c *Conn) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// LocalAddr implements encap.Conn.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// BatchSize implements encap.Conn.
func (c *Conn) BatchSize() int { return c.batch }

// Close implements encap.Conn: it unbinds the address, discards the queue
// and unblocks ReadBatch.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.n = 0
	close(c.done)
	c.mu.Unlock()
	c.network.unbind(c)
	return nil
}

// closedError matches net.ErrClosed.
func (c *Conn) closedError(op string) error {
	return &net.OpError{Op: op, Net: "udp", Source: net.UDPAddrFromAddrPort(c.local), Err: net.ErrClosed}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
