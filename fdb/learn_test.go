package fdb

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

// randomMACs returns n distinct unicast MACs from a seeded generator, as a
// sender of random source addresses would use.
func randomMACs(n int, seed uint64) []MAC {
	rng := rand.New(rand.NewPCG(seed, seed))
	seen := make(map[MAC]bool, n)
	out := make([]MAC, 0, n)
	for len(out) < n {
		var m MAC
		v := rng.Uint64()
		for i := range m {
			m[i] = byte(v >> (8 * i))
		}
		m[0] &^= 1 // unicast
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// bytesPerLearn returns the bytes allocated per new MAC learned into VNI 1
// of a table whose VNI 2 holds others rows: a measure of the rows each learn
// copies that does not depend on the machine's speed.
func bytesPerLearn(n, others int) float64 {
	tb := New()
	now := time.Now()
	for _, m := range randomMACs(others, 2) {
		tb.Learn(2, m, vtepB, now)
	}
	macs := randomMACs(n, 1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, m := range macs {
		tb.Learn(1, m, vtepA, now)
	}
	runtime.ReadMemStats(&after)
	if got, _ := tb.Len(); got != n+others {
		panic(fmt.Sprintf("table holds %d MACs; want %d", got, n+others))
	}
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestLearnCostIsConstant checks that learning a new MAC costs the same
// however many rows the table holds, in its own VNI or in others: it copies
// a bounded part of the table, not all of it. Cost is measured in bytes
// allocated, which is deterministic, and compared as a ratio.
func TestLearnCostIsConstant(t *testing.T) {
	tests := []struct {
		name               string
		small, smallOthers int
		large, largeOthers int
		maxRatio           float64
	}{
		{name: "20,000 new MACs against 1,000", small: 1000, large: 20000, maxRatio: 3},
		{name: "another VNI of 20,000 rows", small: 1000, large: 1000, largeOthers: 20000, maxRatio: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			small := bytesPerLearn(tt.small, tt.smallOthers)
			large := bytesPerLearn(tt.large, tt.largeOthers)
			t.Logf("bytes allocated per learn: %.0f, against %.0f (%.2fx)", large, small, large/small)
			if large > tt.maxRatio*small {
				t.Errorf("bytes allocated per learn: got %.0f for %d new MACs beside %d rows, %.0f for %d beside %d (%.1fx); want at most %.0fx",
					large, tt.large, tt.largeOthers, small, tt.small, tt.smallOthers, large/small, tt.maxRatio)
			}
		})
	}
}

// BenchmarkLearnNew learns N new random MACs into an empty VNI of a table
// whose other VNI holds 1,000 rows, and reports the time per learn, which
// should not grow with N.
func BenchmarkLearnNew(b *testing.B) {
	others := randomMACs(1000, 2)
	for _, n := range []int{1000, 10000, 20000} {
		macs := randomMACs(n, 1)
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var spent time.Duration
			for b.Loop() {
				b.StopTimer()
				tb := New()
				now := time.Now()
				for _, m := range others {
					tb.Learn(2, m, vtepB, now)
				}
				b.StartTimer()
				start := time.Now()
				for _, m := range macs {
					tb.Learn(1, m, vtepA, now)
				}
				spent += time.Since(start)
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N*n), "ns/learn")
		})
	}
}

// TestLearnWithin checks the limit on learned rows of each kind: a new
// key beyond it is refused and reported, static rows and other VNIs do not
// count, a known key is still refreshed or moved, and whatever removes a
// learned row makes room.
func TestLearnWithin(t *testing.T) {
	const limit = 2
	ip3 := netip.MustParseAddr("10.0.0.3")
	now := time.Now()
	tests := []struct {
		name     string
		before   func(tb *Table)
		learn    func(tb *Table) bool // returns full
		wantFull bool
	}{
		{"below the limit", func(tb *Table) { tb.Learn(1, mac1, vtepA, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac2, vtepA, now, limit) }, false},
		{"at the limit", func(tb *Table) { tb.Learn(1, mac1, vtepA, now); tb.Learn(1, mac2, vtepA, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, true},
		{"no limit", func(tb *Table) { tb.Learn(1, mac1, vtepA, now); tb.Learn(1, mac2, vtepA, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, 0) }, false},
		{"static rows do not count", func(tb *Table) { tb.AddStatic(1, mac1, vtepA); tb.AddStatic(1, mac2, vtepA) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"other VNIs do not count", func(tb *Table) { tb.Learn(2, mac1, vtepA, now); tb.Learn(2, mac2, vtepA, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"a known MAC moves at the limit", func(tb *Table) { tb.Learn(1, mac1, vtepA, now); tb.Learn(1, mac2, vtepA, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac2, vtepB, now, limit) }, false},
		{"Expire makes room", func(tb *Table) {
			tb.Learn(1, mac1, vtepA, now.Add(-time.Hour))
			tb.Learn(1, mac2, vtepA, now)
			tb.Expire(now, time.Minute)
		}, func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"Delete makes room", func(tb *Table) { tb.Learn(1, mac1, vtepA, now); tb.Learn(1, mac2, vtepA, now); tb.Delete(1, mac1) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"a learned row made static makes room", func(tb *Table) {
			tb.Learn(1, mac1, vtepA, now)
			tb.Learn(1, mac2, vtepA, now)
			tb.ReplaceStatic(1, map[MAC]netip.AddrPort{mac1: vtepA}, nil)
		}, func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"IPs at the limit", func(tb *Table) { tb.LearnIP(1, ip1, mac1, now); tb.LearnIP(1, ip2, mac1, now) },
			func(tb *Table) bool { return tb.LearnIPWithin(1, ip3, mac1, now, limit) }, true},
		{"IPs do not count against MACs", func(tb *Table) { tb.LearnIP(1, ip1, mac1, now); tb.LearnIP(1, ip2, mac1, now) },
			func(tb *Table) bool { return tb.LearnWithin(1, mac3, vtepA, now, limit) }, false},
		{"a known IP moves at the limit", func(tb *Table) { tb.LearnIP(1, ip1, mac1, now); tb.LearnIP(1, ip2, mac1, now) },
			func(tb *Table) bool { return tb.LearnIPWithin(1, ip2, mac2, now, limit) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New()
			tt.before(tb)
			macs, ips := tb.Len()
			full := tt.learn(tb)
			if full != tt.wantFull {
				t.Errorf("full = %v; want %v", full, tt.wantFull)
			}
			gotMACs, gotIPs := tb.Len()
			if grew := gotMACs + gotIPs - macs - ips; grew != 0 && tt.wantFull {
				t.Errorf("the table grew by %d rows; want none", grew)
			}
		})
	}
}

// checkLearned fails unless the learned rows the table counts by VNI, which
// LearnWithin checks its limit against, are the learned rows it holds.
func checkLearned(t *testing.T, when string, tb *Table) {
	t.Helper()
	check := func(kind string, got map[uint32]int, rows iter.Seq2[uint32, bool]) {
		want := map[uint32]int{}
		for vni, static := range rows {
			if !static {
				want[vni]++
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: learned %s by VNI counted %v; want %v", when, kind, got, want)
		}
	}
	check("MACs", tb.macs.learned, func(yield func(uint32, bool) bool) {
		for k, e := range tb.macs.load().all() {
			yield(k.vni, e.static)
		}
	})
	check("IPs", tb.ips.learned, func(yield func(uint32, bool) bool) {
		for k, e := range tb.ips.load().all() {
			yield(k.vni, e.static)
		}
	})
}

// TestShardsAgainstModel runs random writes over thousands of keys, enough
// for the shards to double and shrink, against a plain map, with a limit on
// learned rows.
func TestShardsAgainstModel(t *testing.T) {
	const limit = 1500
	macs := randomMACs(4000, 7)
	rng := rand.New(rand.NewPCG(7, 7))
	tb := New()
	ref := map[macKey]refRow[netip.AddrPort]{}
	learned := func(vni uint32) int {
		n := 0
		for k, r := range ref {
			if k.vni == vni && !r.static {
				n++
			}
		}
		return n
	}
	now := time.Now()
	for i := range 20000 {
		vni, mac := uint32(1+rng.IntN(2)), macs[rng.IntN(len(macs))]
		vtep := []netip.AddrPort{vtepA, vtepB}[rng.IntN(2)]
		k := newMACKey(vni, mac)
		var desc string
		switch op := rng.IntN(1000); {
		case op < 850:
			desc = fmt.Sprintf("LearnWithin(%d, %v, %v)", vni, mac, vtep)
			_, known := ref[k]
			wantFull := !known && learned(vni) >= limit
			if full := tb.LearnWithin(vni, mac, vtep, now, limit); full != wantFull {
				t.Fatalf("op %d %s: full = %v; want %v", i, desc, full, wantFull)
			}
			if !wantFull {
				refLearn(ref, k, vtep, now)
			}
		case op < 900:
			desc = fmt.Sprintf("AddStatic(%d, %v, %v)", vni, mac, vtep)
			tb.AddStatic(vni, mac, vtep)
			ref[k] = refRow[netip.AddrPort]{val: vtep, static: true}
		case op < 995:
			desc = fmt.Sprintf("Delete(%d, %v)", vni, mac)
			if got, want := tb.Delete(vni, mac), refDelete(ref, k); got != want {
				t.Fatalf("op %d %s: got %v; want %v", i, desc, got, want)
			}
		default:
			desc = fmt.Sprintf("DeleteVNI(%d)", vni)
			tb.DeleteVNI(vni)
			deleteVNIRef(ref, vni)
		}
		if i%500 != 0 {
			continue
		}
		want := make([]Entry, 0, len(ref))
		for k, r := range ref {
			want = append(want, Entry{VNI: k.vni, MAC: k.macOf(), VTEP: r.val, Static: r.static})
		}
		got := tb.Entries()
		for j := range got {
			got[j].Age = 0
		}
		slices.SortFunc(want, func(a, b Entry) int {
			return cmp.Or(cmp.Compare(a.VNI, b.VNI), slices.Compare(a.MAC[:], b.MAC[:]))
		})
		if !slices.Equal(got, want) {
			t.Fatalf("after op %d %s: %d rows; want %d rows of the model", i, desc, len(got), len(want))
		}
		checkLearned(t, fmt.Sprintf("after op %d %s", i, desc), tb)
	}
}
