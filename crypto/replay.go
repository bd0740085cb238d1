package crypto

import "math"

const (
	replayBlockBits = 64 // bits per block of the bitmap
	replayBlocks    = 64 // blocks in the ring: 4096 bits

	// ReplayWindowSize is how many sequence numbers the replay window
	// covers: a datagram is accepted if its sequence number is new and less
	// than ReplayWindowSize behind the highest one accepted. The bitmap has
	// 4096 bits in 64-bit blocks (RFC 6479); one block is always being
	// filled, so 4032 of them are a full window.
	ReplayWindowSize = (replayBlocks - 1) * replayBlockBits
)

// ReplayWindow is an anti-replay window over 64-bit extended sequence numbers
// (RFC 4303, section 3.4.3 and Appendix A), kept as a ring of bitmap blocks
// as RFC 6479 describes: moving the window forward clears whole blocks
// instead of shifting bits.
//
// Use it in two steps: Check a datagram's sequence number before
// authenticating it, Update the window after. The zero value is an empty
// window, expecting sequence numbers from 1. A ReplayWindow is not safe for
// concurrent use.
type ReplayWindow struct {
	top  uint64 // the highest sequence number accepted; 0 if none
	bits [replayBlocks]uint64
}

// Top returns the highest sequence number the window was updated with, 0 if
// none.
func (w *ReplayWindow) Top() uint64 { return w.top }

// Check infers the full 64-bit sequence number of a datagram carrying
// seqLow, its low 32 bits, and reports whether that number is acceptable:
// not 0, not seen, and not left of the window. It does not change the
// window.
//
// The high 32 bits are inferred as in RFC 4303, Appendix A2.2: seq is the
// number congruent to seqLow modulo 2^32 in [Top()-ReplayWindowSize+1,
// Top()-ReplayWindowSize+2^32]. So a number left of the window comes back as
// one about 2^32 ahead, which passes Check but fails authentication (Inbound
// tells such a datagram by its IV; see Inbound.Open). When no
// such number lies in [1, 2^64-1], ok is false and seq is 0; otherwise seq
// is the inferred number even when ok is false.
func (w *ReplayWindow) Check(seqLow uint32) (seq uint64, ok bool) {
	seq, ok = w.infer(seqLow)
	if !ok {
		return 0, false
	}
	return seq, w.fresh(seq)
}

// fresh reports whether the full sequence number seq is acceptable: not 0,
// not seen, and not left of the window.
func (w *ReplayWindow) fresh(seq uint64) bool {
	switch {
	case seq == 0:
		return false
	case seq > w.top:
		return true
	case w.top-seq >= ReplayWindowSize:
		return false
	}
	return w.bits[seq/replayBlockBits%replayBlocks]&(1<<(seq%replayBlockBits)) == 0
}

// infer returns the 64-bit sequence number for seqLow given the window's
// top, following RFC 4303, Appendix A2.2, with W = ReplayWindowSize. ok is
// false if the high half would fall below 0 or above 2^32-1.
func (w *ReplayWindow) infer(seqLow uint32) (seq uint64, ok bool) {
	th, tl := uint32(w.top>>32), uint32(w.top)
	bl := tl - (ReplayWindowSize - 1) // the window's bottom, modulo 2^32
	sh := th
	switch {
	case tl >= ReplayWindowSize-1 && seqLow < bl: // Case A: in the next subspace
		if th == math.MaxUint32 {
			return 0, false
		}
		sh = th + 1
	case tl < ReplayWindowSize-1 && seqLow >= bl: // Case B: in the previous subspace
		if th == 0 {
			return 0, false
		}
		sh = th - 1
	}
	return uint64(sh)<<32 | uint64(seqLow), true
}

// Update records seq, a sequence number that Check accepted and whose
// datagram then authenticated, moving the window forward if seq is beyond
// its top. A seq of 0 or left of the window is ignored.
func (w *ReplayWindow) Update(seq uint64) {
	if seq == 0 {
		return
	}
	if seq > w.top {
		w.advance(seq)
	} else if w.top-seq >= ReplayWindowSize {
		return
	}
	w.bits[seq/replayBlockBits%replayBlocks] |= 1 << (seq % replayBlockBits)
}

// advance moves the top to seq, clearing the blocks that the window enters.
func (w *ReplayWindow) advance(seq uint64) {
	cur, next := w.top/replayBlockBits, seq/replayBlockBits
	if next-cur >= replayBlocks {
		clear(w.bits[:])
	} else {
		for i := cur + 1; i <= next; i++ {
			w.bits[i%replayBlocks] = 0
		}
	}
	w.top = seq
}
