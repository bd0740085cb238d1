package gossip

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestNewer(t *testing.T) {
	base := testRecord("n1", "e1", 1)
	base.Node, base.Version = "b", 10
	with := func(f func(*Record)) Record { r := base.clone(); f(&r); return r }
	tests := []struct {
		name string
		a, b Record
		want bool
	}{
		{"higher version wins", with(func(r *Record) { r.Version = 11 }), base, true},
		{"lower version loses", with(func(r *Record) { r.Version = 9; r.Deleted = true }), base, false},
		{"tie: tombstone wins", with(func(r *Record) { r.Deleted = true }), base, true},
		{"tie: live loses to tombstone", base, with(func(r *Record) { r.Deleted = true }), false},
		{"tie: higher node wins", with(func(r *Record) { r.Node = "c" }), base, true},
		{"tie: lower node loses", with(func(r *Record) { r.Node = "a" }), base, false},
		{"tie: higher IP wins", with(func(r *Record) { r.IP = netip.MustParseAddr("198.19.9.9") }), base, true},
		{"tie: more aliases win", with(func(r *Record) { r.Aliases = append(r.Aliases, "z") }), base, true},
		{"identical is not newer", base.clone(), base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newer(tt.a, tt.b); got != tt.want {
				t.Errorf("newer(a, b) = %v; want %v", got, tt.want)
			}
			if tt.want && newer(tt.b, tt.a) {
				t.Errorf("newer(b, a) = true as well; want an order")
			}
		})
	}
}

func TestNextVersion(t *testing.T) {
	now := time.Unix(1_700_000_000, 5)
	clock := uint64(now.UnixNano())
	tests := []struct {
		name string
		prev uint64
		want uint64
	}{
		{"fresh endpoint takes the clock", 0, clock},
		{"older version takes the clock", clock - 100, clock},
		{"version ahead of the clock goes up by one", clock + 100, clock + 101},
		{"equal to the clock goes up by one", clock, clock + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextVersion(tt.prev, now); got != tt.want {
				t.Errorf("nextVersion(%d) = %d; want %d", tt.prev, got, tt.want)
			}
		})
	}
}

// TestMergeOrderIndependent applies random conflicting copies of a few
// records to stores in random orders: every store must end with the copy
// the reference model (the maximum under a plain sort) picks.
func TestMergeOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"a", "b", "c"}
	for round := range 200 {
		var copies []Record
		for range 12 {
			r := testRecord("n1", []string{"e1", "e2", "e3"}[rng.IntN(3)], rng.IntN(3))
			r.Node = nodes[rng.IntN(len(nodes))]
			r.Version = uint64(1 + rng.IntN(3)) // few versions: many ties
			r.Deleted = rng.IntN(4) == 0
			if r.Deleted {
				r = r.tombstone(r.Version)
			}
			copies = append(copies, r)
		}
		want := modelWinners(copies)
		for perm := range 5 {
			s := newStore()
			for _, i := range rng.Perm(len(copies)) {
				s.put(copies[i].clone(), time.Time{})
			}
			for id, w := range want {
				got, _ := s.get(id)
				if !recordsEqual(got, w) {
					t.Fatalf("round %d order %d: %s: got %+v; want %+v", round, perm, id, got, w)
				}
			}
		}
	}
}

// modelWinners picks, per endpoint, the copy that sorts last by (version,
// deleted, node, content).
func modelWinners(copies []Record) map[string]Record {
	sorted := slices.Clone(copies)
	slices.SortStableFunc(sorted, func(a, b Record) int {
		switch {
		case a.Version != b.Version:
			return cmpU(a.Version, b.Version)
		case a.Deleted != b.Deleted:
			if a.Deleted {
				return 1
			}
			return -1
		case a.Node != b.Node:
			if a.Node > b.Node {
				return 1
			}
			return -1
		}
		return compareContent(a, b)
	})
	out := make(map[string]Record)
	for _, r := range sorted {
		out[r.EndpointID] = r
	}
	return out
}

func cmpU(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

func recordsEqual(a, b Record) bool {
	return a.EndpointID == b.EndpointID && a.Version == b.Version && a.Node == b.Node &&
		a.Deleted == b.Deleted && compareContent(a, b) == 0
}
