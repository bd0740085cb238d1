package vtep

import (
	"net/netip"

	"github.com/weftnet/weft/metrics"
)

// syncPeers makes the registry's peer table the peers of every network, so
// that each peer VTEP is counted under its own label and one that no
// network has any more is forgotten. The caller holds e.mu.
func (e *Engine) syncPeers() {
	var all []netip.AddrPort
	for _, n := range *e.nets.Load() {
		all = append(all, *n.peers.Load()...)
	}
	e.reg.Peers.Set(all)
}

// peerTally adds up a batch's datagrams to or from one peer at a time, and
// adds each run to the peer's shared counters at once: one table lookup and
// a few atomic adds per run of datagrams of one peer, not per datagram.
type peerTally struct {
	peers          *metrics.Peers
	addr           netip.AddrPort
	c              *metrics.PeerCounters // nil: no run yet
	packets, bytes uint64
}

// rx counts a datagram of size bytes accepted from from. Call rxDone at the
// end of the batch.
func (t *peerTally) rx(from netip.AddrPort, size int, now int64) {
	if t.c == nil || from != t.addr {
		t.rxDone(now)
		t.addr, t.c = from, t.peers.Sender(from)
	}
	t.packets++
	t.bytes += uint64(size)
}

// rxDone adds the current run to its peer's receive counters.
func (t *peerTally) rxDone(now int64) {
	if t.packets > 0 {
		t.c.AddRx(t.packets, t.bytes, now)
	}
	t.packets, t.bytes = 0, 0
}

// tx counts a datagram of size bytes sent to to. Call txDone at the end of
// the batch.
func (t *peerTally) tx(to netip.AddrPort, size int) {
	if t.c == nil || to != t.addr {
		t.txDone()
		t.addr, t.c = to, t.peers.Destination(to)
	}
	t.packets++
	t.bytes += uint64(size)
}

// txDone adds the current run to its peer's transmit counters.
func (t *peerTally) txDone() {
	if t.packets > 0 {
		t.c.AddTx(t.packets, t.bytes)
	}
	t.packets, t.bytes = 0, 0
}

// countSent counts the datagrams of a flushed batch against their peers,
// and the batch's size.
func (e *Engine) countSent(b *txBatch) {
	e.reg.Batches.Observe(metrics.UDPWrite, len(b.out))
	t := peerTally{peers: &e.reg.Peers}
	for i, to := range b.to {
		t.tx(to, len(b.out[i]))
	}
	t.txDone()
}
