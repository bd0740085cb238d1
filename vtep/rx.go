package vtep

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
)

// rxHeadroom is room the receive buffers keep in front of every datagram,
// so that a frame delivered to a TAP has room in front of it for a
// virtio-net header (see deliver).
const rxHeadroom = 16

// rxFrameOffset is where a frame starts in the slices deliver writes: the
// headroom and the VXLAN header.
const rxFrameOffset = rxHeadroom + encap.HeaderLen

// rxBatch is the receive loop's working set, allocated once.
type rxBatch struct {
	bufs    [][]byte // where datagrams are read: full[i][rxHeadroom:]
	full    [][]byte
	sizes   []int
	from    []netip.AddrPort
	touched []*network // networks with frames pending in this batch
}

func newRxBatch(size, datagramLen int) *rxBatch {
	b := &rxBatch{bufs: make([][]byte, size), full: make([][]byte, size), sizes: make([]int, size), from: make([]netip.AddrPort, size)}
	for i := range b.bufs {
		b.full[i] = make([]byte, rxHeadroom+datagramLen)
		b.bufs[i] = b.full[i][rxHeadroom:]
	}
	return b
}

// rxLoop moves datagrams from the underlay to the networks' TAP devices until
// the socket is closed.
func (e *Engine) rxLoop() {
	defer e.wg.Done()
	b := newRxBatch(max(e.cfg.BatchSize, e.conn.BatchSize()), e.cfg.MaxDatagram)
	var backoff time.Duration
	for {
		count, err := e.conn.ReadBatch(b.bufs, b.sizes, b.from, 0)
		if err != nil {
			if e.readFailed("underlay", err, &backoff) {
				return
			}
			continue
		}
		backoff = 0
		e.receive(b, count, time.Now())
	}
}

// receive decapsulates count datagrams of b and writes their inner frames to
// the TAP devices of their networks, one batch per device.
func (e *Engine) receive(b *rxBatch, count int, now time.Time) {
	nets := *e.nets.Load()
	for i := range count {
		n, vx := e.decap(nets, b.bufs[i][:b.sizes[i]], b.from[i], now)
		if n == nil {
			continue
		}
		// vx (VXLAN header and frame) lies in b.bufs[i], which ends where
		// b.full[i] does: their capacities tell where. Hand deliver a slice
		// of full that starts rxHeadroom before vx.
		start := cap(b.full[i]) - cap(vx) - rxHeadroom
		if start < 0 || &b.full[i][start+rxHeadroom] != &vx[0] {
			n.ctr.Drop(metrics.DropMalformed, 1) // cannot happen: decap returns a tail of bufs[i]
			continue
		}
		if len(n.rxPending) == 0 {
			b.touched = append(b.touched, n)
		}
		n.rxPending = append(n.rxPending, b.full[i][start:start+rxHeadroom+len(vx)])
	}
	for i, n := range b.touched {
		e.deliver(n)
		b.touched[i] = nil
	}
	b.touched = b.touched[:0]
}

// decap checks one datagram, opening it first if it is ESP, and returns the
// network its inner frame belongs to, or nil if it was dropped. The frame
// is returned with its VXLAN header, which the TAP write skips.
func (e *Engine) decap(nets map[uint32]*network, pkt []byte, from netip.AddrPort, now time.Time) (*network, []byte) {
	// Without encrypted networks, anything but VXLAN is a bad VXLAN header,
	// as the kernel sees it.
	var sealedFor *network
	if e.sealed.Load() > 0 && wcrypto.IsESP(pkt) {
		if sealedFor, pkt = e.open(pkt); sealedFor == nil {
			return nil, nil
		}
	}
	vni, inner, st := encap.Decap(pkt)
	if st != encap.OK && sealedFor != nil {
		sealedFor.ctr.Drop(metrics.DropMalformed, 1) // authentic, but no VXLAN inside
		return nil, nil
	}
	switch st {
	case encap.OK:
	case encap.Short:
		e.reg.Underlay.Drop(metrics.DropShort, 1)
		return nil, nil
	case encap.BadFlags:
		e.reg.Underlay.Drop(metrics.DropBadFlags, 1)
		return nil, nil
	default:
		e.reg.Underlay.Drop(metrics.DropTruncated, 1)
		return nil, nil
	}
	n := nets[vni]
	switch {
	case sealedFor != nil && n != sealedFor:
		sealedFor.ctr.Drop(metrics.DropMalformed, 1) // sealed for one network, claiming another
		return nil, nil
	case n == nil:
		e.reg.Underlay.Drop(metrics.DropUnknownVNI, 1)
		return nil, nil
	case n.cfg.Encrypted && sealedFor == nil:
		n.ctr.Drop(metrics.DropCleartext, 1)
		return nil, nil
	case len(inner) > n.maxFrame:
		n.ctr.Drop(metrics.DropOversize, 1)
		return nil, nil
	}
	if n.cfg.Learn {
		e.learn(n, inner, from.Addr(), now)
	}
	return n, pkt
}

// learn records where the sender of a received frame lives, as the kernel's
// VXLAN does: its source MAC against the sending VTEP, and from ARP its IP
// against its MAC.
func (e *Engine) learn(n *network, frame []byte, vtep netip.Addr, now time.Time) {
	src := fdb.MAC(frame[6:12])
	if src.IsMulticast() || src == (fdb.MAC{}) || n.removed.Load() {
		return
	}
	e.fdb.Learn(n.cfg.VNI, src, n.vtepPort(vtep.Unmap()), now)
	if a, ok := parseARP(frame); ok && a.senderMAC() == src && a.senderIP().IsValid() && !a.senderIP().IsUnspecified() {
		e.fdb.LearnIP(n.cfg.VNI, a.senderIP(), src, now)
	}
}

// deliver writes a network's pending frames to its TAP device and counts them.
func (e *Engine) deliver(n *network) {
	written, err := n.dev.Write(n.rxPending, rxFrameOffset)
	var bytes uint64
	for _, f := range n.rxPending[:written] {
		bytes += uint64(len(f) - rxFrameOffset)
	}
	n.ctr.RxPackets.Add(uint64(written))
	n.ctr.RxBytes.Add(bytes)
	if failed := len(n.rxPending) - written; failed > 0 && !errors.Is(err, net.ErrClosed) {
		n.ctr.Drop(metrics.DropTapError, uint64(failed))
		e.debugErr("tap write failed", n, err)
	}
	clear(n.rxPending)
	n.rxPending = n.rxPending[:0]
}

// debugErr logs a data-plane error at debug level only; drops are counted, and
// an operator who wants the error text turns debug logging on.
func (e *Engine) debugErr(msg string, n *network, err error) {
	if err != nil && e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug(msg, "network", n.cfg.Name, "vni", n.cfg.VNI, "err", err)
	}
}
