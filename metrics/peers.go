package metrics

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// PeerCounters are the traffic counters of one peer VTEP: underlay
// datagrams (VXLAN or ESP, counted as UDP payload) to and from it. All
// methods are safe for concurrent use and never allocate.
type PeerCounters struct {
	RxPackets, RxBytes atomic.Uint64 // accepted datagrams received from the peer
	TxPackets, TxBytes atomic.Uint64 // datagrams handed to the underlay for the peer
	lastSeen           atomic.Int64  // unix nanoseconds of the last accepted datagram; 0: never
}

// AddRx counts packets datagrams of bytes in all received from the peer,
// the last of them at now (unix nanoseconds).
func (c *PeerCounters) AddRx(packets, bytes uint64, now int64) {
	c.RxPackets.Add(packets)
	c.RxBytes.Add(bytes)
	if now > c.lastSeen.Load() {
		c.lastSeen.Store(now)
	}
}

// AddTx counts packets datagrams of bytes in all sent to the peer.
func (c *PeerCounters) AddTx(packets, bytes uint64) {
	c.TxPackets.Add(packets)
	c.TxBytes.Add(bytes)
}

// LastSeen returns when the last datagram from the peer was accepted, or
// the zero time if none was.
func (c *PeerCounters) LastSeen() time.Time {
	if ns := c.lastSeen.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// OtherPeer is the peer label of the traffic of VTEPs that are not in the
// table: senders nobody configured, and VTEPs learned from traffic.
const OtherPeer = "other"

// Peers is a table of counters per peer VTEP, plus one bucket for every
// address not in it.
//
// Lookups never take a lock and never allocate: the table is an immutable
// snapshot that Set replaces wholesale (copy-on-write), so it is meant to
// change on control-plane events, not per packet. The zero Peers is an
// empty table. All methods are safe for concurrent use.
type Peers struct {
	mu    sync.Mutex // serializes Set
	snap  atomic.Pointer[peerSnapshot]
	other PeerCounters
}

type peerSnapshot struct {
	exact  map[netip.AddrPort]*PeerCounters
	byAddr map[netip.Addr]*PeerCounters // the peer of lowest port at each address
}

// Set makes peers the table's peers. A peer already in the table keeps its
// counters; one not listed any more is forgotten, so the table holds only
// live peers. IPv4-mapped IPv6 addresses are taken in their IPv4 form.
func (p *Peers) Set(peers []netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var old map[netip.AddrPort]*PeerCounters
	if s := p.snap.Load(); s != nil {
		old = s.exact
	}
	next := &peerSnapshot{exact: make(map[netip.AddrPort]*PeerCounters, len(peers)), byAddr: make(map[netip.Addr]*PeerCounters, len(peers))}
	sorted := make([]netip.AddrPort, len(peers))
	for i, ap := range peers {
		sorted[i] = unmapped(ap)
	}
	slices.SortFunc(sorted, netip.AddrPort.Compare)
	for _, ap := range slices.Compact(sorted) {
		c := old[ap]
		if c == nil {
			c = new(PeerCounters)
		}
		next.exact[ap] = c
		if _, ok := next.byAddr[ap.Addr()]; !ok {
			next.byAddr[ap.Addr()] = c
		}
	}
	p.snap.Store(next)
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Destination returns the counters of the peer at to, or the other bucket.
func (p *Peers) Destination(to netip.AddrPort) *PeerCounters {
	if s := p.snap.Load(); s != nil {
		if c, ok := s.exact[to]; ok {
			return c
		}
	}
	return &p.other
}

// Sender returns the counters of the peer a datagram from from came from:
// the peer at exactly that address and port, else one at that address (a
// kernel VXLAN sends from a port per flow), else the other bucket.
func (p *Peers) Sender(from netip.AddrPort) *PeerCounters {
	if s := p.snap.Load(); s != nil {
		if c, ok := s.exact[from]; ok {
			return c
		}
		if c, ok := s.byAddr[from.Addr()]; ok {
			return c
		}
	}
	return &p.other
}

// PeerStats is what a Peers table holds about one peer, as read by Stats.
type PeerStats struct {
	Peer               netip.AddrPort // the peer VTEP; invalid for the other bucket
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	LastSeen           time.Time // zero: nothing accepted from the peer yet
}

// Stats returns the counters of every peer, sorted by address, and last
// those of the other bucket.
func (p *Peers) Stats() []PeerStats {
	var out []PeerStats
	if s := p.snap.Load(); s != nil {
		for ap, c := range s.exact {
			out = append(out, statsOf(ap, c))
		}
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return a.Peer.Compare(b.Peer) })
	return append(out, statsOf(netip.AddrPort{}, &p.other))
}

func statsOf(ap netip.AddrPort, c *PeerCounters) PeerStats {
	return PeerStats{
		Peer: ap, RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(), LastSeen: c.LastSeen(),
	}
}
