package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// modelNet is a reference allocator for one IPv4 network: addresses are
// plain integers, usable ones are lo..hi except gw, and used maps address to
// endpoint. Its bounds are written out by hand, not computed by the code
// under test.
type modelNet struct {
	id     string
	lo, hi uint32
	gw     uint32
	used   map[uint32]string
}

func (m *modelNet) lowestFree() (uint32, bool) {
	for a := m.lo; a <= m.hi; a++ {
		if _, ok := m.used[a]; !ok && a != m.gw {
			return a, true
		}
	}
	return 0, false
}

func ip4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// modelRun is one randomized run: the State under test and the model.
type modelRun struct {
	t      *testing.T
	s      *State
	models []*modelNet
	owner  map[string]*modelNet // endpoint → the network it is allocated on
	node   map[string]string    // endpoint → node
	// counts of outcomes, to prove the run reached every case
	auto, given, refused, exhausted, reused int
}

// TestAllocateAgainstModel drives Allocate, Release and ReleaseNode at random
// and checks every outcome against modelNet: an address is never handed out
// twice, automatic allocation always takes the lowest free usable address
// (so freed addresses are reused lowest first), and requested addresses are
// granted exactly when the model says they are usable and free.
func TestAllocateAgainstModel(t *testing.T) {
	base := u32(netip.MustParseAddr("198.19.0.0"))
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x77656674))
			r := &modelRun{t: t, s: NewState(), owner: map[string]*modelNet{}, node: map[string]string{}}
			r.models = []*modelNet{
				// 198.19.1.0/27, gateway .1: .2-.30 usable.
				{id: "a", lo: base + 1<<8 + 1, hi: base + 1<<8 + 30, gw: base + 1<<8 + 1},
				// 198.19.2.0/24 with range .64/28, gateway .1 outside it.
				{id: "b", lo: base + 2<<8 + 64, hi: base + 2<<8 + 79, gw: base + 2<<8 + 1},
				// 198.19.3.0/29 with gateway .5 in the middle.
				{id: "c", lo: base + 3<<8 + 1, hi: base + 3<<8 + 6, gw: base + 3<<8 + 5},
			}
			for _, m := range r.models {
				m.used = map[uint32]string{}
			}
			mustApply(t, r.s, nodes...)
			mustApply(t, r.s,
				mkNet("a", "a", "198.19.1.0/27"),
				mkNet("b", "b", "198.19.2.0/24", withRange("198.19.2.64/28")),
				mkNet("c", "c", "198.19.3.0/29", withGateway("198.19.3.5")))
			for i := range 3000 {
				r.step(rng, i)
				r.check(i)
			}
			if r.auto == 0 || r.given == 0 || r.refused == 0 || r.exhausted == 0 || r.reused == 0 {
				t.Errorf("run missed a case: auto %d, given %d, refused %d, exhausted %d, reused %d",
					r.auto, r.given, r.refused, r.exhausted, r.reused)
			}
		})
	}
}

func (r *modelRun) step(rng *rand.Rand, i int) {
	m := r.models[rng.IntN(len(r.models))]
	ep := fmt.Sprintf("e%d", rng.IntN(60))
	switch op := rng.IntN(10); {
	case op < 4:
		r.allocAuto(m, ep, i)
	case op < 6:
		r.allocGiven(m, ep, m.lo-2+uint32(rng.IntN(int(m.hi-m.lo)+5)), i)
	case op < 9:
		r.apply(Command{Op: OpRelease, EndpointID: ep})
		r.forget(ep)
	default:
		n := []string{"n1", "n2", "n3"}[rng.IntN(3)]
		r.apply(Command{Op: OpReleaseNode, NodeID: n})
		for e, en := range r.node {
			if en == n {
				r.forget(e)
			}
		}
	}
}

func (r *modelRun) apply(c Command) {
	r.t.Helper()
	if _, err := r.s.Apply(c); err != nil {
		r.t.Fatalf("%s: %v", c.Op, err)
	}
}

func (r *modelRun) forget(ep string) {
	if m, ok := r.owner[ep]; ok {
		for a, e := range m.used {
			if e == ep {
				delete(m.used, a)
			}
		}
	}
	delete(r.owner, ep)
	delete(r.node, ep)
}

func (r *modelRun) remember(m *modelNet, ep string, a uint32) {
	m.used[a], r.owner[ep], r.node[ep] = ep, m, nodeFor(ep)
}

func nodeFor(ep string) string { return []string{"n1", "n2", "n3"}[len(ep)%3] }

func (r *modelRun) allocAuto(m *modelNet, ep string, i int) {
	t := r.t
	got, err := r.s.Apply(mkAlloc(ep, m.id, nodeFor(ep), "", ""))
	if prev, ok := r.owner[ep]; ok { // a repeat: same answer, or a conflict
		if prev == m && err != nil {
			t.Fatalf("step %d: repeat allocate %s: %v", i, ep, err)
		}
		return
	}
	want, ok := m.lowestFree()
	if !ok {
		if !errors.Is(err, ErrExhausted) {
			t.Fatalf("step %d: allocate %s on full %s: got %v; want ErrExhausted", i, ep, m.id, err)
		}
		r.exhausted++
		return
	}
	if err != nil {
		t.Fatalf("step %d: allocate %s on %s: got %v; want %s", i, ep, m.id, err, ip4(want))
	}
	if ip := got.(Allocation).IP; ip != ip4(want) {
		t.Fatalf("step %d: allocate %s on %s: got %s; want lowest free %s", i, ep, m.id, ip, ip4(want))
	}
	if m.usedAbove(want) {
		r.reused++
	}
	r.auto++
	r.remember(m, ep, want)
}

// usedAbove reports whether some address above a is in use, i.e. whether
// allocating a fills a hole left by a release.
func (m *modelNet) usedAbove(a uint32) bool {
	for u := range m.used {
		if u > a {
			return true
		}
	}
	return false
}

func (r *modelRun) allocGiven(m *modelNet, ep string, a uint32, i int) {
	_, err := r.s.Apply(mkAlloc(ep, m.id, nodeFor(ep), "", ip4(a).String()))
	if _, ok := r.owner[ep]; ok {
		return // a repeat; check covers the state
	}
	_, taken := m.used[a]
	usable := a >= m.lo && a <= m.hi && a != m.gw && !taken
	if usable != (err == nil) {
		r.t.Fatalf("step %d: allocate %s at %s on %s: got error %v; model says usable=%v", i, ep, ip4(a), m.id, err, usable)
	}
	if !usable {
		r.refused++
		return
	}
	r.given++
	r.remember(m, ep, a)
}

func (r *modelRun) check(i int) {
	t := r.t
	if len(r.s.Allocations) != len(r.owner) {
		t.Fatalf("step %d: allocations: got %d; model has %d", i, len(r.s.Allocations), len(r.owner))
	}
	seen := map[netip.Addr]string{}
	for ep, a := range r.s.Allocations {
		if other, dup := seen[a.IP]; dup {
			t.Fatalf("step %d: address %s handed out twice: %s and %s", i, a.IP, other, ep)
		}
		seen[a.IP] = ep
		m := r.owner[ep]
		if m == nil || m.id != a.NetworkID || m.used[u32(a.IP)] != ep {
			t.Fatalf("step %d: allocation %s = %s on %s is not in the model", i, ep, a.IP, a.NetworkID)
		}
	}
}
