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
	"github.com/weftnet/weft/internal/header"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// rxHeadroom is room the receive buffers keep in front of every datagram,
// so that a frame delivered to a TAP has room in front of it for a
// virtio-net header (see deliver).
const rxHeadroom = 16

// rxFrameOffset is where a frame starts in the slices deliver writes: the
// headroom and the VXLAN header.
const rxFrameOffset = rxHeadroom + encap.HeaderLen

// rxBatch is a receive loop's working set, allocated once.
type rxBatch struct {
	queue   int      // the loop's index: it writes to the networks' TAP queue of that index
	bufs    [][]byte // where datagrams are read: full[i][rxHeadroom:]
	full    [][]byte
	sizes   []int
	from    []netip.AddrPort
	dels    map[uint32]*delivery // by VNI
	touched []*delivery          // deliveries with frames pending in this batch
	nets    *map[uint32]*network // the networks dels was last pruned against
}

// delivery is what one receive loop keeps for one network: the frames of a
// batch bound for its TAP, and the buffers they are coalesced in.
type delivery struct {
	n       *network // the network of the pending frames
	pending [][]byte
	merged  [][]byte // the other half of pending, for coalescing
	frames  [][]byte // scratch: the pending frames, without their prefix
	groBufs [][]byte // super-frames coalesced from received segments
}

func newRxBatch(size, datagramLen int) *rxBatch {
	b := &rxBatch{
		bufs: make([][]byte, size), full: make([][]byte, size), sizes: make([]int, size), from: make([]netip.AddrPort, size),
		dels: map[uint32]*delivery{},
	}
	for i := range b.bufs {
		b.full[i] = make([]byte, rxHeadroom+datagramLen)
		b.bufs[i] = b.full[i][rxHeadroom:]
	}
	return b
}

// rxLoop moves datagrams from one underlay socket, the queue-th, to the
// networks' TAP devices until the socket is closed.
func (e *Engine) rxLoop(conn encap.Conn, queue int) {
	defer e.wg.Done()
	b := newRxBatch(max(e.cfg.BatchSize, conn.BatchSize()), e.cfg.MaxDatagram)
	b.queue = queue
	var backoff time.Duration
	for {
		count, err := conn.ReadBatch(b.bufs, b.sizes, b.from, 0)
		if err != nil {
			if e.readFailed("underlay", err, &backoff) {
				return
			}
			continue
		}
		backoff = 0
		e.reg.Batches.Observe(metrics.UDPRead, count)
		e.receive(b, count, time.Now())
	}
}

// receive decapsulates count datagrams of b and writes their inner frames to
// the TAP devices of their networks, one batch per device.
func (e *Engine) receive(b *rxBatch, count int, now time.Time) {
	if p := e.nets.Load(); p != b.nets {
		b.prune(*p)
		b.nets = p
	}
	nets := *b.nets
	peers, seen := peerTally{peers: &e.reg.Peers}, now.UnixNano()
	for i := range count {
		n, vx := e.decap(nets, b.bufs[i][:b.sizes[i]], b.from[i], now)
		if n == nil {
			continue
		}
		peers.rx(b.from[i], b.sizes[i], seen)
		// vx (VXLAN header and frame) lies in b.bufs[i], which ends where
		// b.full[i] does: their capacities tell where. Hand deliver a slice
		// of full that starts rxHeadroom before vx.
		start := cap(b.full[i]) - cap(vx) - rxHeadroom
		if start < 0 || &b.full[i][start+rxHeadroom] != &vx[0] {
			n.ctr.Drop(metrics.DropMalformed, 1) // cannot happen: decap returns a tail of bufs[i]
			continue
		}
		d := b.delivery(n)
		if len(d.pending) == 0 {
			d.n = n
			b.touched = append(b.touched, d)
		}
		d.pending = append(d.pending, b.full[i][start:start+rxHeadroom+len(vx)])
	}
	peers.rxDone(seen)
	for i, d := range b.touched {
		e.deliver(d, d.n.queue(b.queue))
		d.n = nil
		b.touched[i] = nil
	}
	b.touched = b.touched[:0]
}

// prune forgets the delivery state, and its coalesce buffers, of networks
// that are gone.
func (b *rxBatch) prune(nets map[uint32]*network) {
	for vni := range b.dels {
		if nets[vni] == nil {
			delete(b.dels, vni)
		}
	}
}

// delivery returns the batch's delivery state for n, making it on n's first
// frame.
func (b *rxBatch) delivery(n *network) *delivery {
	d, ok := b.dels[n.cfg.VNI]
	if !ok {
		d = &delivery{}
		b.dels[n.cfg.VNI] = d
	}
	return d
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
	if n.cfg.Learn && e.learn(n, inner, from.Addr(), now) {
		n.ctr.Drop(metrics.DropLearnLimit, 1) // delivered all the same
	}
	return n, pkt
}

// learn records where the sender of a received frame lives, as the kernel's
// VXLAN does: its source MAC against the sending VTEP, and from ARP its IP
// against its MAC. frame holds at least an Ethernet header, as Decap
// promises. It reports whether a row was left out because the network holds
// Config.LearnLimit learned rows of its kind.
func (e *Engine) learn(n *network, frame []byte, vtep netip.Addr, now time.Time) (full bool) {
	src := fdb.MAC(header.Ethernet(frame).Source())
	if src.IsMulticast() || src == (fdb.MAC{}) || n.removed.Load() {
		return false
	}
	limit := e.cfg.LearnLimit
	full = e.fdb.LearnWithin(n.cfg.VNI, src, n.vtepPort(vtep.Unmap()), now, limit)
	if a, ok := parseARP(frame); ok && a.SenderMAC() == src && a.SenderIP().IsValid() && !a.SenderIP().IsUnspecified() {
		full = e.fdb.LearnIPWithin(n.cfg.VNI, a.SenderIP(), src, now, limit) || full
	}
	return full
}

// deliver writes a network's pending frames to dev, a queue of its TAP, and
// counts them. On an offloaded TAP, runs of consecutive TCP segments are
// coalesced first.
func (e *Engine) deliver(d *delivery, dev tap.Device) {
	n := d.n
	if n.offload {
		if bad := d.coalesce(); bad > 0 {
			n.ctr.Drop(metrics.DropBadChecksum, uint64(bad))
		}
	}
	written, err := dev.Write(d.pending, rxFrameOffset)
	var bytes uint64
	for _, f := range d.pending[:written] {
		bytes += uint64(len(f) - rxFrameOffset)
	}
	n.ctr.RxPackets.Add(uint64(written))
	n.ctr.RxBytes.Add(bytes)
	if failed := len(d.pending) - written; failed > 0 && !errors.Is(err, net.ErrClosed) {
		n.ctr.Drop(metrics.DropTapError, uint64(failed))
		e.debugErr("tap write failed", n, err)
	}
	clear(d.pending)
	d.pending = d.pending[:0]
}

// debugErr logs a data-plane error at debug level only; drops are counted, and
// an operator who wants the error text turns debug logging on.
func (e *Engine) debugErr(msg string, n *network, err error) {
	if err != nil && e.log.Enabled(context.Background(), slog.LevelDebug) {
		e.log.Debug(msg, "network", n.cfg.Name, "vni", n.cfg.VNI, "err", err)
	}
}

// coalesce replaces runs of pending frames that are consecutive TCP
// segments of one flow by one super-frame each, with a virtio-net GSO
// header, in d's coalesce buffers; every other frame gets a zero virtio-net
// header. The TAP then takes a run with one write, and the kernel one pass.
// A segment that would have been merged but whose checksum is wrong is
// dropped: coalesce returns how many were. Delivered alone, without
// NEEDS_CSUM, it would only be dropped by the container's kernel.
func (d *delivery) coalesce() (bad int) {
	frames := d.frames[:0]
	for _, f := range d.pending {
		frames = append(frames, f[rxFrameOffset:])
	}
	out := d.merged[:0]
	used := 0
	for i := 0; i < len(frames); {
		if len(frames)-i >= 2 {
			buf := d.groBuffer(used)
			taken, size, g, err := encap.Coalesce(frames[i:], buf[rxFrameOffset:])
			if err != nil {
				bad++
				i++
				continue
			}
			if g.Type != header.GSONone {
				putGSOHeader(buf[rxFrameOffset-tap.VnetHdrLen:], buf[rxFrameOffset:], g)
				out = append(out, buf[:rxFrameOffset+size])
				used++
				i += taken
				continue
			}
		}
		clear(d.pending[i][rxFrameOffset-tap.VnetHdrLen : rxFrameOffset])
		out = append(out, d.pending[i])
		i++
	}
	clear(frames)
	d.frames = frames[:0]
	d.merged, d.pending = d.pending[:0], out
	return bad
}

// putGSOHeader writes the virtio-net header of a super-frame that Coalesce
// built: its TCP header lies at g.CsumStart.
func putGSOHeader(hdr, frame []byte, g encap.GSO) {
	hdrLen := g.CsumStart + header.TCP(frame[g.CsumStart:]).DataOffset()
	tap.VnetHdr{
		Flags: tap.VnetNeedsCsum, GSOType: g.Type, HdrLen: uint16(hdrLen), GSOSize: uint16(g.Size),
		CsumStart: uint16(g.CsumStart), CsumOffset: uint16(g.CsumOffset),
	}.Put(hdr)
}

// groBuffer returns coalesce buffer i, allocating it on first use.
func (d *delivery) groBuffer(i int) []byte {
	for len(d.groBufs) <= i {
		d.groBufs = append(d.groBufs, make([]byte, rxFrameOffset+maxSuperFrame))
	}
	return d.groBufs[i]
}
