package crypto

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// replayModel is the reference the ReplayWindow is tested against: the set
// of sequence numbers seen, the highest one, and RFC 4303's rules stated
// directly.
type replayModel struct {
	top  uint64
	seen map[uint64]bool
}

func newReplayModel(start uint64) *replayModel {
	m := &replayModel{seen: map[uint64]bool{}}
	if start > 0 {
		m.mark(start)
	}
	return m
}

// infer returns the number congruent to low modulo 2^32 in
// [top-W+1, top-W+2^32], computed in unbounded integers; ok is false if it
// is not in [0, 2^64-1].
func (m *replayModel) infer(low uint32) (uint64, bool) {
	two32 := new(big.Int).Lsh(big.NewInt(1), 32)
	bottom := new(big.Int).SetUint64(m.top)
	bottom.Sub(bottom, big.NewInt(ReplayWindowSize-1))
	d := new(big.Int).Sub(big.NewInt(int64(low)), bottom)
	d.Mod(d, two32) // non-negative
	v := d.Add(d, bottom)
	if v.Sign() < 0 || !v.IsUint64() {
		return 0, false
	}
	return v.Uint64(), true
}

// accepts is the window rule: new, not 0, and either beyond the top or less
// than W behind it.
func (m *replayModel) accepts(seq uint64) bool {
	return seq != 0 && !m.seen[seq] && (seq > m.top || m.top-seq < ReplayWindowSize)
}

func (m *replayModel) mark(seq uint64) {
	m.seen[seq] = true
	m.top = max(m.top, seq)
}

// nextSeq picks the sequence number of the next arriving datagram: mostly
// near the top (new, reordered, replayed), rarely far ahead or far behind, so
// that the top often moves through more than a whole window of blocks
// without a jump that clears them all.
func nextSeq(r *rand.Rand, top uint64, recent []uint64) uint64 {
	sub := func(d uint64) uint64 { return top - min(d, top) }
	add := func(d uint64) uint64 { return top + min(d, math.MaxUint64-top) }
	switch k := r.IntN(1000); {
	case k < 500:
		return add(1 + r.Uint64N(8))
	case k < 700:
		return sub(r.Uint64N(ReplayWindowSize + 200))
	case k < 850 && len(recent) > 0:
		return recent[r.IntN(len(recent))]
	case k < 950:
		return add(r.Uint64N(200))
	case k < 990:
		return sub(ReplayWindowSize - 2 + r.Uint64N(4)) // the window's edge
	case k < 995:
		return add(r.Uint64N(3 * ReplayWindowSize))
	case k < 998:
		return add(r.Uint64N(1 << 33)) // far ahead, maybe beyond inference
	default:
		return sub(r.Uint64N(1 << 33)) // far behind
	}
}

func TestReplayWindowModel(t *testing.T) {
	starts := []uint64{0, 1<<32 - 5000, 1<<32 - 3, 1 << 32, 5<<32 + 77, math.MaxUint64 - 20000}
	for _, start := range starts {
		for seed := range uint64(4) {
			t.Run("", func(t *testing.T) { runReplayModel(t, start, seed) })
		}
	}
}

func runReplayModel(t *testing.T, start, seed uint64) {
	r := rand.New(rand.NewPCG(seed, start))
	var w ReplayWindow
	w.Update(start)
	m := newReplayModel(start)
	var recent []uint64
	accepted, replays := 0, 0
	for op := range 10000 {
		seq := nextSeq(r, m.top, recent)
		low := uint32(seq)
		got, ok := w.Check(low)
		want, inferable := m.infer(low)
		wantOK := inferable && m.accepts(want)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("start %#x seed %d op %d: top %#x, Check(%#x) = (%#x, %v); want (%#x, %v)", start, seed, op, m.top, low, got, ok, want, wantOK)
		}
		if ok && got == seq { // authentic: the sender used that number
			w.Update(seq)
			m.mark(seq)
			recent = append(recent, seq)
			accepted++
		} else if m.seen[seq] {
			replays++
		}
		if w.Top() != m.top {
			t.Fatalf("op %d: Top() = %#x; want %#x", op, w.Top(), m.top)
		}
	}
	if accepted < 1000 || replays < 500 {
		t.Fatalf("start %#x seed %d: %d accepted, %d replays rejected; the test exercises too little", start, seed, accepted, replays)
	}
}

func TestReplayWindowInference(t *testing.T) {
	const w = ReplayWindowSize
	tests := []struct {
		name   string
		top    uint64 // 0: empty window
		low    uint32
		want   uint64
		wantOK bool
	}{
		{"empty, first", 0, 1, 1, true},
		{"empty, zero", 0, 0, 0, false},
		{"empty, below 0", 0, math.MaxUint32, 0, false},
		{"empty, far ahead", 0, math.MaxUint32 - w + 1, math.MaxUint32 - w + 1, true},
		{"same subspace, in window", 10000, 10000 - w + 1, 10000 - w + 1, true},
		{"same subspace, left of window is next subspace", 10000, 10000 - w, 1<<32 + 10000 - w, true},
		{"same subspace, ahead", 10000, 20000, 20000, true},
		{"spans subspaces, previous", 1<<32 + 5, math.MaxUint32, math.MaxUint32, true},
		{"spans subspaces, bottom", 1<<32 + 5, 1<<32 + 5 - w + 1, 1<<32 + 5 - w + 1, true},
		{"spans subspaces, current", 1<<32 + 5, 3, 1<<32 + 3, true},
		{"spans subspaces, ahead", 1<<32 + 5, 1 << 20, 1<<32 + 1<<20, true},
		{"top subspace, would wrap 2^64", math.MaxUint64 - 10, 3, 0, false},
		{"top subspace, in window", math.MaxUint64 - 10, math.MaxUint32 - 20, math.MaxUint64 - 20, true},
		{"top subspace, last", math.MaxUint64 - 10, math.MaxUint32, math.MaxUint64, true},
		{"top itself", 1 << 40, 0, 1 << 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var win ReplayWindow
			win.Update(tt.top)
			got, ok := win.Check(tt.low)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Fatalf("top %#x: Check(%#x) = (%#x, %v); want (%#x, %v)", tt.top, tt.low, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReplayWindowEdges(t *testing.T) {
	var w ReplayWindow
	const top = 100000
	w.Update(top)
	for _, tt := range []struct {
		seq  uint64
		want bool
	}{
		{top, false},
		{top - 1, true},
		{top - 2047, true},
		{top - ReplayWindowSize + 1, true},
		{top - ReplayWindowSize, false},
		{top - 4096, false},
		{top + 1, true},
		{top + 1<<20, true},
	} {
		// Left of the window, Check infers a number 2^32 ahead, which the
		// ICV then rejects: the seq itself is never accepted.
		if got, ok := w.Check(uint32(tt.seq)); (ok && got == tt.seq) != tt.want {
			t.Errorf("top %d: Check(seq %d) = (%d, %v); want seq accepted=%v", top, tt.seq, got, ok, tt.want)
		}
	}
	// A jump of more than the window forgets everything below it; a jump
	// within it keeps the seen bits that stay in the window.
	w.Update(top - 10)
	w.Update(top + 100)
	if _, ok := w.Check(uint32(top - 10)); ok {
		t.Errorf("seq top-10 accepted again after a jump of 100")
	}
	w.Update(top + 100 + ReplayWindowSize + 64)
	if _, ok := w.Check(uint32(top + 100 + 64 + 1)); !ok {
		t.Errorf("an unseen number inside the window after a long jump was rejected")
	}
	if got, ok := w.Check(uint32(top + 100)); ok && got == top+100 {
		t.Errorf("a number left of the window after a long jump was accepted")
	}
	// Update ignores 0 and numbers left of the window.
	before := w
	w.Update(0)
	w.Update(1)
	if w != before {
		t.Errorf("Update(0) or Update(left of window) changed the window")
	}
}
