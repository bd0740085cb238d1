// Package gossiptest is an in-memory network for memberlist, so gossip tests
// run many nodes in one process without sockets, ports or root.
package gossiptest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Port is the port every in-memory node listens on, as weftd does on 7946.
const Port = 7946

// Network connects the Transports made by NewTransport. Packets to a node
// that is not running are lost, as UDP datagrams would be; dials to it are
// refused. The zero value is ready to use.
type Network struct {
	mu      sync.Mutex
	addrs   map[string]netip.AddrPort     // node name → address, kept across restarts
	live    map[netip.AddrPort]*Transport // running transports by address
	next    uint32                        // last host number handed out
	blocked map[[2]netip.AddrPort]bool    // {from, to} pairs whose packets are lost
	dropped atomic.Uint64
}

// NewTransport returns a running transport for the node called name. The
// same name always gets the same address (198.18.x.y:7946, RFC 2544 space),
// so a node restarted under its old name comes back where it was, like a host
// that rebooted. It fails while another running transport holds the name.
func (n *Network) NewTransport(name string) (*Transport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.addrs == nil {
		n.addrs = make(map[string]netip.AddrPort)
		n.live = make(map[netip.AddrPort]*Transport)
	}
	addr, ok := n.addrs[name]
	if !ok {
		if n.next >= 0xfffe {
			return nil, fmt.Errorf("new transport %q: address space 198.18.0.0/16 exhausted", name)
		}
		n.next++
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(n.next >> 8), byte(n.next)}), Port)
		n.addrs[name] = addr
	}
	if _, busy := n.live[addr]; busy {
		return nil, fmt.Errorf("new transport %q: %v is still running", name, addr)
	}
	t := newTransport(n, addr)
	n.live[addr] = t
	return t, nil
}

// Addr returns the address given to the node called name, and false if no
// transport was ever made for it.
func (n *Network) Addr(name string) (netip.AddrPort, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.addrs[name]
	return a, ok
}

// BlockPackets makes packets from one address to another be lost (block
// true) or delivered again (false). Streams are not affected, so memberlist's
// TCP fallback probes and push/pull still work: this is how a test makes a
// node miss broadcasts.
func (n *Network) BlockPackets(from, to netip.AddrPort, block bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.blocked == nil {
		n.blocked = make(map[[2]netip.AddrPort]bool)
	}
	if block {
		n.blocked[[2]netip.AddrPort{from, to}] = true
	} else {
		delete(n.blocked, [2]netip.AddrPort{from, to})
	}
}

// Dropped returns how many packets were lost because the receiver's queue
// was full or BlockPackets said so.
func (n *Network) Dropped() uint64 { return n.dropped.Load() }

// lookup returns the running transport at addr, or nil.
func (n *Network) lookup(addr string) *Transport {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.live[ap]
}

// packetDest returns the running transport a packet from one address to
// another should reach, or nil if it is lost.
func (n *Network) packetDest(from netip.AddrPort, to string) *Transport {
	ap, err := netip.ParseAddrPort(to)
	if err != nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.blocked[[2]netip.AddrPort{from, ap}] {
		n.dropped.Add(1)
		return nil
	}
	return n.live[ap]
}

// remove takes t off the network if it is still the one at its address.
func (n *Network) remove(t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.live[t.addr] == t {
		delete(n.live, t.addr)
	}
}

// errRefused is returned when dialling an address where nothing runs.
var errRefused = errors.New("connection refused")

// dialError wraps errRefused the way the net package would.
func dialError(addr string) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("%s: %w", addr, errRefused)}
}
