package vtep

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/header"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/tap"
)

// txBatch is the transmit loop's working set, allocated once per network.
type txBatch struct {
	conn    encap.Conn // where the batch is sent; nil: the engine's first
	bufs    [][]byte   // frames read from the TAP, at Headroom
	sizes   []int
	out     [][]byte // datagrams to send; may repeat a buffer for replication
	to      []netip.AddrPort
	replies [][]byte // ARP replies to write back to the TAP, at Headroom
	bytes   uint64   // inner bytes of out, one count per copy

	// Encrypted networks seal each copy of a replicated frame for its own
	// peer, in a spare buffer; spares grow to at most as many as bufs, and
	// a batch that needs more is flushed early.
	spares   [][]byte
	used     int // spares taken in this batch
	frameLen int

	// An offloaded network's super-frames are split into segments, in
	// buffers of their own, grown to the most a batch or one super-frame
	// needed; a batch that runs out is flushed early.
	segs     [][]byte
	segSizes []int
	segUsed  int
	segLen   int
	one      [1][]byte // a frame checksummed in place, as Split's destination
}

func newTxBatch(size, frameLen int) *txBatch {
	b := &txBatch{bufs: make([][]byte, size), sizes: make([]int, size), frameLen: frameLen}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, Headroom+frameLen+Tailroom)
	}
	return b
}

// spare returns a free spare buffer, allocating one only when the batch
// needs more than ever before.
func (b *txBatch) spare() []byte {
	if b.used == len(b.spares) {
		b.spares = append(b.spares, make([]byte, Headroom+b.frameLen+Tailroom))
	}
	b.used++
	return b.spares[b.used-1]
}

// txLoop moves frames from one queue of a network's TAP to the underlay,
// sending on conn, until the queue is closed.
func (e *Engine) txLoop(n *network, dev tap.Device, conn encap.Conn) {
	defer e.wg.Done()
	defer func() {
		if n.running.Add(-1) == 0 {
			close(n.done)
		}
	}()
	// One byte more than the largest frame carried, so that a longer frame is
	// seen as oversize rather than silently truncated to fit. An offloaded
	// device hands over super-frames of up to 64 KB.
	size := max(e.cfg.BatchSize, dev.BatchSize())
	var b *txBatch
	if n.offload {
		b = newTxBatch(size, maxSuperFrame)
		b.segLen, b.segSizes = n.maxFrame+1, make([]int, size)
	} else {
		b = newTxBatch(size, n.maxFrame+1)
	}
	b.conn = conn
	var backoff time.Duration
	for {
		count, err := dev.Read(b.bufs, b.sizes, Headroom)
		if err != nil {
			if e.readFailed(dev.Name(), err, &backoff) {
				return
			}
			continue
		}
		backoff = 0
		e.reg.Batches.Observe(metrics.TapRead, count)
		e.transmit(n, b, count)
	}
}

// transmit classifies and forwards count frames of b, then flushes.
func (e *Engine) transmit(n *network, b *txBatch, count int) {
	for i := range count {
		buf := b.bufs[i][:Headroom+b.sizes[i]]
		if n.offload {
			e.transmitOffloaded(n, b, buf)
		} else {
			e.classify(n, b, buf)
		}
	}
	e.flush(n, b)
}

// maxSuperFrame is the largest frame an offloaded TAP hands over: an IP
// packet of 64 KB and its Ethernet header, with a VLAN tag.
const maxSuperFrame = 65535 + maxFrameOverhead

// transmitOffloaded reads the virtio-net header in front of a frame from an
// offloaded TAP, completes its checksum or splits it into segments, and
// classifies each.
func (e *Engine) transmitOffloaded(n *network, b *txBatch, buf []byte) {
	frame := buf[Headroom:]
	h, err := tap.ParseVnetHdr(buf[Headroom-tap.VnetHdrLen:Headroom], len(frame))
	if err != nil {
		n.ctr.Drop(metrics.DropMalformed, 1)
		return
	}
	g := encap.GSO{
		Type: h.GSOType, Size: int(h.GSOSize),
		CsumStart: int(h.CsumStart), CsumOffset: int(h.CsumOffset), NeedsCsum: h.Flags&tap.VnetNeedsCsum != 0,
	}
	if g.Type == header.GSONone {
		if g.NeedsCsum {
			// In place: Split copies the frame onto itself and completes the sum.
			b.one[0] = buf
			_, err := encap.Split(frame, g, b.one[:], b.segSizes[:1], Headroom)
			b.one[0] = nil
			if err != nil {
				n.ctr.Drop(metrics.DropMalformed, 1)
				return
			}
		}
		e.classify(n, b, buf)
		return
	}
	e.split(n, b, frame, g)
}

// minSegBufs is the fewest segment buffers a transmit batch may grow to:
// enough for a 64 KB super-frame cut into segments of 512 bytes or more
// at once.
const minSegBufs = 128

// split cuts a super-frame into segments and classifies each. The segment
// buffers grow to at most a batch's worth or minSegBufs, whichever is
// more: a frame of more segments (a virtio-net header may ask for
// segments of one byte) is split in turns, the batch flushed between
// them, so that no frame makes the queue keep a buffer per segment.
func (e *Engine) split(n *network, b *txBatch, frame []byte, g encap.GSO) {
	most := max((len(frame)+g.Size-1)/g.Size, 1) // at least as many as the frame has
	limit := max(len(b.bufs), minSegBufs)
	for first := 0; first < most; {
		want := min(most-first, limit)
		if b.segUsed > 0 && b.segUsed+want > limit {
			e.flush(n, b) // the segments already split go out first
		}
		b.growSegs(b.segUsed + want)
		k, count, err := encap.SplitFrom(frame, g, first, b.segs[b.segUsed:b.segUsed+want], b.segSizes, Headroom)
		if err != nil {
			n.ctr.Drop(metrics.DropMalformed, 1)
			return
		}
		for j := range k {
			e.classify(n, b, b.segs[b.segUsed+j][:Headroom+b.segSizes[j]])
		}
		b.segUsed += k
		first, most = first+k, count
	}
}

// growSegs makes sure there are n segment buffers, and sizes for them.
// They grow to the most a batch needed, which split bounds.
func (b *txBatch) growSegs(n int) {
	for len(b.segs) < n {
		b.segs = append(b.segs, make([]byte, Headroom+b.segLen+Tailroom))
	}
	if len(b.segSizes) < n {
		b.segSizes = make([]int, len(b.segs))
	}
}

// classify decides where one frame goes: buf holds it at Headroom.
func (e *Engine) classify(n *network, b *txBatch, buf []byte) {
	frame := buf[Headroom:]
	switch {
	case len(frame) < header.EthernetLen:
		n.ctr.Drop(metrics.DropTruncated, 1)
		return
	case len(frame) > n.maxFrame:
		n.ctr.Drop(metrics.DropOversize, 1)
		return
	}
	dst := fdb.MAC(header.Ethernet(frame).Destination())
	if !dst.IsMulticast() {
		if vtep, ok := e.fdb.Lookup(n.cfg.VNI, dst); ok {
			pkt := encap.Encap(buf, Headroom, n.cfg.VNI)
			if n.cfg.Encrypted {
				pkt = e.seal(n, buf, len(pkt), vtep)
			}
			if pkt != nil {
				b.add(pkt, vtep, len(frame))
			}
			return
		}
	} else if e.answerLocally(n, b, buf) {
		return
	}
	e.flood(n, b, buf)
}

// answerLocally answers an ARP request from the FDB, so that it need not be
// flooded; it reports whether it did.
func (e *Engine) answerLocally(n *network, b *txBatch, buf []byte) bool {
	frame := buf[Headroom:]
	a, ok := parseARP(frame)
	if !ok || a.Op() != header.ARPRequest || a.SenderIP() == a.TargetIP() {
		return false
	}
	// Answer only for a binding whose MAC still has a VTEP: an IP whose
	// owner has gone quiet is left for the network to answer.
	mac, ok := e.fdb.LookupIP(n.cfg.VNI, a.TargetIP())
	if !ok {
		return false
	}
	if _, ok := e.fdb.Lookup(n.cfg.VNI, mac); !ok {
		return false
	}
	answerARP(frame, a, mac)
	b.replies = append(b.replies, buf)
	return true
}

// flood replicates a frame to every peer VTEP of its network.
func (e *Engine) flood(n *network, b *txBatch, buf []byte) {
	peers := *n.peers.Load()
	if len(peers) == 0 {
		n.ctr.Drop(metrics.DropNoDestination, 1)
		return
	}
	pkt := encap.Encap(buf, Headroom, n.cfg.VNI)
	if n.cfg.Encrypted {
		e.floodSealed(n, b, pkt, peers)
		return
	}
	for _, p := range peers {
		b.add(pkt, p, len(buf)-Headroom)
	}
}

// floodSealed replicates a VXLAN datagram to peers, sealing a copy for each.
func (e *Engine) floodSealed(n *network, b *txBatch, pkt []byte, peers []netip.AddrPort) {
	start := Headroom - encap.HeaderLen
	for _, p := range peers {
		if b.used == len(b.bufs) {
			e.flush(n, b) // spares are capped at a batch's worth: send what is sealed
		}
		s := b.spare()
		copy(s[start:], pkt)
		if sealed := e.seal(n, s, len(pkt), p); sealed != nil {
			b.add(sealed, p, len(pkt)-encap.HeaderLen)
		}
	}
}

func (b *txBatch) add(pkt []byte, to netip.AddrPort, frameLen int) {
	b.out = append(b.out, pkt)
	b.to = append(b.to, to)
	b.bytes += uint64(frameLen)
}

// flush sends the batch's datagrams and ARP replies and counts them.
func (e *Engine) flush(n *network, b *txBatch) {
	if len(b.out) > 0 {
		conn := b.conn
		if conn == nil {
			conn = e.conn
		}
		sent, err := conn.WriteBatch(b.out, b.to, 0)
		e.countSent(b)
		if failed := len(b.out) - sent; failed > 0 && !errors.Is(err, net.ErrClosed) {
			n.ctr.Drop(metrics.DropSendError, uint64(failed))
			e.debugErr("underlay send failed", n, err)
		}
		// WriteBatch does not say which datagrams failed, so the bytes of a
		// failed one stay counted; send_error says how many there were.
		n.ctr.TxPackets.Add(uint64(sent))
		n.ctr.TxBytes.Add(b.bytes)
	}
	if len(b.replies) > 0 {
		if n.offload {
			for _, r := range b.replies {
				clear(r[Headroom-tap.VnetHdrLen : Headroom]) // no offload asked of the kernel
			}
		}
		if written, err := n.dev.Write(b.replies, Headroom); written < len(b.replies) && !errors.Is(err, net.ErrClosed) {
			n.ctr.Drop(metrics.DropTapError, uint64(len(b.replies)-written))
			e.debugErr("tap write of ARP reply failed", n, err)
		}
	}
	clear(b.out)
	b.out, b.to, b.replies = b.out[:0], b.to[:0], b.replies[:0]
	b.bytes, b.used, b.segUsed = 0, 0, 0
}
