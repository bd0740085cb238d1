package fdb

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	mac1  = MAC{0x02, 0, 0, 0, 0, 1}
	mac2  = MAC{0x02, 0, 0, 0, 0, 2}
	mac3  = MAC{0x02, 0, 0, 0, 0, 3}
	bcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	vtepA = netip.MustParseAddrPort("192.0.2.1:4789")
	vtepB = netip.MustParseAddrPort("192.0.2.2:4789")
	vtepC = netip.MustParseAddrPort("[2001:db8::3]:4789")
	ip1   = netip.MustParseAddr("10.0.0.1")
	ip1m  = netip.MustParseAddr("::ffff:10.0.0.1")
	ip2   = netip.MustParseAddr("10.0.0.2")
	ip6   = netip.MustParseAddr("2001:db8::1")
)

// op is one step of a table test, applied to a Table at a time offset from
// the test's start.
type op func(tb *Table, at func(time.Duration) time.Time)

func learn(vni uint32, m MAC, v netip.AddrPort, d time.Duration) op {
	return func(tb *Table, at func(time.Duration) time.Time) { tb.Learn(vni, m, v, at(d)) }
}

func static(vni uint32, m MAC, v netip.AddrPort) op {
	return func(tb *Table, _ func(time.Duration) time.Time) { tb.AddStatic(vni, m, v) }
}

func learnIP(vni uint32, ip netip.Addr, m MAC, d time.Duration) op {
	return func(tb *Table, at func(time.Duration) time.Time) { tb.LearnIP(vni, ip, m, at(d)) }
}

func staticIP(vni uint32, ip netip.Addr, m MAC) op {
	return func(tb *Table, _ func(time.Duration) time.Time) { tb.AddStaticIP(vni, ip, m) }
}

// run applies ops to a new Table with times relative to a start instant it
// returns alongside.
func run(ops ...op) (*Table, func(time.Duration) time.Time) {
	tb := New()
	start := time.Now()
	at := start.Add
	for _, o := range ops {
		o(tb, at)
	}
	return tb, at
}

func TestLearnAndAddStatic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ops    []op
		mac    MAC
		want   netip.AddrPort
		wantOK bool
	}{
		{"empty", nil, mac1, netip.AddrPort{}, false},
		{"learn", []op{learn(1, mac1, vtepA, 0)}, mac1, vtepA, true},
		{"other MAC", []op{learn(1, mac1, vtepA, 0)}, mac2, netip.AddrPort{}, false},
		{"other VNI", []op{learn(2, mac1, vtepA, 0)}, mac1, netip.AddrPort{}, false},
		{"move updates VTEP", []op{learn(1, mac1, vtepA, 0), learn(1, mac1, vtepB, time.Second)}, mac1, vtepB, true},
		{"move to IPv6 VTEP", []op{learn(1, mac1, vtepA, 0), learn(1, mac1, vtepC, 0)}, mac1, vtepC, true},
		{"static", []op{static(1, mac1, vtepA)}, mac1, vtepA, true},
		{"static not overridden by learn", []op{static(1, mac1, vtepA), learn(1, mac1, vtepB, 0)}, mac1, vtepA, true},
		{"static overrides learned", []op{learn(1, mac1, vtepA, 0), static(1, mac1, vtepB)}, mac1, vtepB, true},
		{"static replaces static", []op{static(1, mac1, vtepA), static(1, mac1, vtepB)}, mac1, vtepB, true},
		{"multicast not learned", []op{learn(1, bcast, vtepA, 0)}, bcast, netip.AddrPort{}, false},
		{"multicast static", []op{static(1, bcast, vtepA)}, bcast, vtepA, true},
		{"invalid VTEP not learned", []op{learn(1, mac1, netip.AddrPort{}, 0)}, mac1, netip.AddrPort{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, _ := run(tc.ops...)
			got, ok := tb.Lookup(1, tc.mac)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestLearnIPAndAddStaticIP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ops    []op
		ip     netip.Addr
		want   MAC
		wantOK bool
	}{
		{"empty", nil, ip1, MAC{}, false},
		{"learn", []op{learnIP(1, ip1, mac1, 0)}, ip1, mac1, true},
		{"learn IPv6", []op{learnIP(1, ip6, mac1, 0)}, ip6, mac1, true},
		{"other IP", []op{learnIP(1, ip1, mac1, 0)}, ip2, MAC{}, false},
		{"other VNI", []op{learnIP(2, ip1, mac1, 0)}, ip1, MAC{}, false},
		{"mapped key learned, IPv4 looked up", []op{learnIP(1, ip1m, mac1, 0)}, ip1, mac1, true},
		{"IPv4 learned, mapped key looked up", []op{learnIP(1, ip1, mac1, 0)}, ip1m, mac1, true},
		{"mapped and IPv4 are one key", []op{learnIP(1, ip1, mac1, 0), learnIP(1, ip1m, mac2, 0)}, ip1, mac2, true},
		{"move updates MAC", []op{learnIP(1, ip1, mac1, 0), learnIP(1, ip1, mac2, time.Second)}, ip1, mac2, true},
		{"static", []op{staticIP(1, ip1, mac1)}, ip1, mac1, true},
		{"static not overridden by learn", []op{staticIP(1, ip1, mac1), learnIP(1, ip1m, mac2, 0)}, ip1, mac1, true},
		{"static overrides learned", []op{learnIP(1, ip1, mac1, 0), staticIP(1, ip1m, mac2)}, ip1, mac2, true},
		{"multicast MAC not learned", []op{learnIP(1, ip1, bcast, 0)}, ip1, MAC{}, false},
		{"invalid IP not learned", []op{learnIP(1, netip.Addr{}, mac1, 0)}, netip.Addr{}, MAC{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb, _ := run(tc.ops...)
			got, ok := tb.LookupIP(1, tc.ip)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tb, _ := run(learn(1, mac1, vtepA, 0), static(1, mac2, vtepB), learn(2, mac1, vtepC, 0),
		learnIP(1, ip1, mac1, 0), staticIP(1, ip2, mac2))
	for _, tc := range []struct {
		name string
		del  func() bool
		want bool
	}{
		{"learned", func() bool { return tb.Delete(1, mac1) }, true},
		{"learned again", func() bool { return tb.Delete(1, mac1) }, false},
		{"static", func() bool { return tb.Delete(1, mac2) }, true},
		{"absent", func() bool { return tb.Delete(3, mac1) }, false},
		{"learned IP by mapped form", func() bool { return tb.DeleteIP(1, ip1m) }, true},
		{"learned IP again", func() bool { return tb.DeleteIP(1, ip1) }, false},
		{"static IP", func() bool { return tb.DeleteIP(1, ip2) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.del(); got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
	if got, ok := tb.Lookup(2, mac1); !ok || got != vtepC {
		t.Errorf("Lookup(2, %v) = %v, %v; want %v, true (other VNI untouched)", mac1, got, ok, vtepC)
	}
	if macs, ips := tb.Len(); macs != 1 || ips != 0 {
		t.Errorf("Len() = %d, %d; want 1, 0", macs, ips)
	}
}

func TestExpire(t *testing.T) {
	const maxAge = 10 * time.Second
	tb, at := run(
		learn(1, mac1, vtepA, 0), // stale at 20s
		learn(1, mac2, vtepA, 0), // refreshed at 15s: fresh
		learn(1, mac2, vtepA, 15*time.Second),
		learn(1, mac3, vtepA, 0), // moved at 12s: fresh
		learn(1, mac3, vtepB, 12*time.Second),
		static(2, mac1, vtepB),                // static: kept
		learn(2, mac2, vtepA, 10*time.Second), // exactly maxAge old: kept
		learnIP(1, ip1, mac1, 0),              // stale
		learnIP(1, ip2, mac2, 11*time.Second), // fresh
		staticIP(1, ip6, mac3),                // static: kept
		learn(3, mac1, vtepA, time.Hour),      // learned "in the future": kept
		learn(3, mac2, vtepA, 5*time.Second),  // refreshed backwards: stays at 5s, stale
		learn(3, mac2, vtepA, 1*time.Second),
	)
	if got := tb.Expire(at(20*time.Second), maxAge); got != 3 {
		t.Errorf("Expire removed %d; want 3", got)
	}
	for _, tc := range []struct {
		vni  uint32
		mac  MAC
		want bool
	}{
		{1, mac1, false}, {1, mac2, true}, {1, mac3, true}, {2, mac1, true}, {2, mac2, true},
		{3, mac1, true}, {3, mac2, false},
	} {
		t.Run(fmt.Sprintf("%d/%v", tc.vni, tc.mac), func(t *testing.T) {
			if _, ok := tb.Lookup(tc.vni, tc.mac); ok != tc.want {
				t.Errorf("got present %v; want %v", ok, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		ip   netip.Addr
		want bool
	}{{ip1, false}, {ip2, true}, {ip6, true}} {
		t.Run(tc.ip.String(), func(t *testing.T) {
			if _, ok := tb.LookupIP(1, tc.ip); ok != tc.want {
				t.Errorf("got present %v; want %v", ok, tc.want)
			}
		})
	}
	if got := tb.Expire(at(20*time.Second), maxAge); got != 0 {
		t.Errorf("second Expire removed %d; want 0", got)
	}
	if got := tb.Expire(at(1000*time.Hour), 0); got != 5 {
		t.Errorf("Expire of everything learned removed %d; want 5", got)
	}
	if macs, ips := tb.Len(); macs != 1 || ips != 1 {
		t.Errorf("Len() after expiring everything = %d, %d; want 1, 1 (the static rows)", macs, ips)
	}
}

func TestDeleteVNI(t *testing.T) {
	tb, _ := run(learn(1, mac1, vtepA, 0), static(1, mac2, vtepB), learn(2, mac1, vtepC, 0),
		learnIP(1, ip1, mac1, 0), staticIP(1, ip6, mac2), learnIP(2, ip1, mac1, 0))
	for _, tc := range []struct {
		vni              uint32
		want             int
		wantMACs, wantIP int
	}{
		{vni: 3, want: 0, wantMACs: 3, wantIP: 3},
		{vni: 1, want: 4, wantMACs: 1, wantIP: 1},
		{vni: 1, want: 0, wantMACs: 1, wantIP: 1},
		{vni: 2, want: 2, wantMACs: 0, wantIP: 0},
	} {
		t.Run(fmt.Sprint(tc.vni), func(t *testing.T) {
			if got := tb.DeleteVNI(tc.vni); got != tc.want {
				t.Errorf("got %d removed; want %d", got, tc.want)
			}
			if macs, ips := tb.Len(); macs != tc.wantMACs || ips != tc.wantIP {
				t.Errorf("got Len %d, %d; want %d, %d", macs, ips, tc.wantMACs, tc.wantIP)
			}
		})
	}
}

func TestEntries(t *testing.T) {
	tb, _ := run(
		learn(2, mac1, vtepA, -5*time.Second),
		static(1, mac3, vtepB),
		learn(1, MAC{0x02, 0, 0, 0, 1, 0}, vtepC, -time.Second),
		learn(1, mac2, vtepA, -2*time.Second),
		learn(10, mac1, vtepA, time.Hour),
	)
	got := tb.Entries()
	want := []Entry{
		{VNI: 1, MAC: mac2, VTEP: vtepA, Age: 2 * time.Second},
		{VNI: 1, MAC: mac3, VTEP: vtepB, Static: true},
		{VNI: 1, MAC: MAC{0x02, 0, 0, 0, 1, 0}, VTEP: vtepC, Age: time.Second},
		{VNI: 2, MAC: mac1, VTEP: vtepA, Age: 5 * time.Second},
		{VNI: 10, MAC: mac1, VTEP: vtepA}, // learned in the future: age 0
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v; want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// Age grows between run and Entries; allow a generous second.
		if g.Age >= w.Age && g.Age < w.Age+time.Second {
			g.Age = w.Age
		}
		if g != w {
			t.Errorf("entry %d: got %+v; want %+v", i, got[i], w)
		}
	}
}

func TestIPEntries(t *testing.T) {
	tb, _ := run(
		learnIP(1, ip6, mac1, -3*time.Second),
		learnIP(1, ip2, mac2, 0),
		staticIP(1, ip1m, mac3),
		learnIP(0, ip6, mac1, 0),
	)
	got := tb.IPEntries()
	want := []IPEntry{
		{VNI: 0, IP: ip6, MAC: mac1},
		{VNI: 1, IP: ip1, MAC: mac3, Static: true}, // listed unmapped
		{VNI: 1, IP: ip2, MAC: mac2},
		{VNI: 1, IP: ip6, MAC: mac1, Age: 3 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %v; want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Age >= w.Age && g.Age < w.Age+time.Second {
			g.Age = w.Age
		}
		if g != w {
			t.Errorf("entry %d: got %+v; want %+v", i, got[i], w)
		}
	}
}

func TestEntriesIsASnapshot(t *testing.T) {
	tb, _ := run(learn(1, mac1, vtepA, 0))
	got := tb.Entries()
	tb.Delete(1, mac1)
	tb.Learn(1, mac2, vtepB, time.Now())
	if len(got) != 1 || got[0].MAC != mac1 {
		t.Errorf("got %v after later writes; want the one row listed before them", got)
	}
}

// refRow is a row of the reference model.
type refRow[V comparable] struct {
	val    V
	static bool
	seen   time.Time
}

// model is the reference the Table is checked against: plain maps, no
// snapshots, no atomics.
type model struct {
	macs map[macKey]refRow[netip.AddrPort]
	ips  map[ipKey]refRow[MAC]
}

func refLearn[K comparable, V comparable](m map[K]refRow[V], k K, v V, now time.Time) {
	r, ok := m[k]
	switch {
	case ok && r.static:
	case ok && r.val == v:
		if now.After(r.seen) {
			r.seen = now
		}
		m[k] = r
	default:
		m[k] = refRow[V]{val: v, seen: now}
	}
}

func refExpire[K comparable, V comparable](m map[K]refRow[V], now time.Time, maxAge time.Duration) int {
	n := 0
	for k, r := range m {
		if !r.static && now.Sub(r.seen) > maxAge {
			delete(m, k)
			n++
		}
	}
	return n
}

func refDelete[K comparable, V comparable](m map[K]refRow[V], k K) bool {
	_, ok := m[k]
	delete(m, k)
	return ok
}

// TestAgainstModel applies random operations to a Table and to the reference
// model and, after each, compares every result, every Lookup and LookupIP over
// the whole key space, Len, and the listings.
func TestAgainstModel(t *testing.T) {
	vnis := []uint32{0, 1, 2}
	macs := []MAC{mac1, mac2, mac3, {0x02, 0, 0, 0, 1, 0}, {0x0a, 0xff, 0, 0, 0, 0}, bcast, {0x01, 0, 0x5e, 0, 0, 1}}
	vteps := []netip.AddrPort{vtepA, vtepB, vtepC, {}}
	ips := []netip.Addr{ip1, ip1m, ip2, netip.MustParseAddr("::ffff:10.0.0.2"), ip6,
		netip.MustParseAddr("fe80::1"), netip.MustParseAddr("0.0.0.0"), {}}
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			pick := func(n int) int { return rng.IntN(n) }
			tb := New()
			ref := model{map[macKey]refRow[netip.AddrPort]{}, map[ipKey]refRow[MAC]{}}
			now := time.Now()
			for i := range 2000 {
				// Whole seconds, so that ages often equal maxAge exactly and
				// refreshes often arrive out of order.
				now = now.Add(time.Duration(rng.IntN(2)) * time.Second)
				when := now.Add(-time.Duration(rng.IntN(3)) * time.Second)
				vni, mac, vtep, ip := vnis[pick(len(vnis))], macs[pick(len(macs))], vteps[pick(len(vteps))], ips[pick(len(ips))]
				mk, ik := newMACKey(vni, mac), ipKey{vni, ip.Unmap()}
				var desc string
				var got, want int
				switch pick(11) {
				case 0, 1, 2:
					desc = fmt.Sprintf("Learn(%d, %v, %v)", vni, mac, vtep)
					tb.Learn(vni, mac, vtep, when)
					if !mac.IsMulticast() && vtep.IsValid() {
						refLearn(ref.macs, mk, vtep, when)
					}
				case 3:
					desc = fmt.Sprintf("AddStatic(%d, %v, %v)", vni, mac, vtep)
					tb.AddStatic(vni, mac, vtep)
					ref.macs[mk] = refRow[netip.AddrPort]{val: vtep, static: true}
				case 4:
					desc = fmt.Sprintf("Delete(%d, %v)", vni, mac)
					got, want = b2i(tb.Delete(vni, mac)), b2i(refDelete(ref.macs, mk))
				case 5, 6:
					desc = fmt.Sprintf("LearnIP(%d, %v, %v)", vni, ip, mac)
					tb.LearnIP(vni, ip, mac, when)
					if ip.IsValid() && !mac.IsMulticast() {
						refLearn(ref.ips, ik, mac, when)
					}
				case 7:
					switch pick(3) {
					case 0:
						desc = fmt.Sprintf("AddStaticIP(%d, %v, %v)", vni, ip, mac)
						tb.AddStaticIP(vni, ip, mac)
						ref.ips[ik] = refRow[MAC]{val: mac, static: true}
					default:
						desc = fmt.Sprintf("DeleteIP(%d, %v)", vni, ip)
						got, want = b2i(tb.DeleteIP(vni, ip)), b2i(refDelete(ref.ips, ik))
					}
				case 8:
					maxAge := time.Duration(rng.IntN(20)) * time.Second
					desc = fmt.Sprintf("Expire(+%v, %v)", now.Sub(when), maxAge)
					got = tb.Expire(now, maxAge)
					want = refExpire(ref.macs, now, maxAge) + refExpire(ref.ips, now, maxAge)
				case 9:
					if pick(10) != 0 { // rare: it empties a third of the table
						continue
					}
					desc = fmt.Sprintf("DeleteVNI(%d)", vni)
					got = tb.DeleteVNI(vni)
					want = deleteVNIRef(ref.macs, vni) + deleteVNIRef(ref.ips, vni)
				case 10:
					wm, wi := randomState(rng, macs, vteps, ips)
					desc = fmt.Sprintf("ReplaceStatic(%d, %v, %v)", vni, wm, wi)
					changed := tb.ReplaceStatic(vni, wm, wi)
					wantChanged := refReplace(&ref, vni, wm, wi)
					if !sameAddrs(changed, wantChanged) {
						t.Fatalf("op %d %s: changed %v; want %v", i, desc, changed, wantChanged)
					}
				}
				if got != want {
					t.Fatalf("op %d %s: got %d; want %d", i, desc, got, want)
				}
				compare(t, fmt.Sprintf("after op %d %s", i, desc), tb, &ref, vnis, macs, ips)
				checkLearned(t, fmt.Sprintf("after op %d %s", i, desc), tb)
			}
		})
	}
}

// randomState returns a few rows of each kind for ReplaceStatic, drawn
// from the test's values, invalid and multicast ones included.
func randomState(rng *rand.Rand, macs []MAC, vteps []netip.AddrPort, ips []netip.Addr) (map[MAC]netip.AddrPort, map[netip.Addr]MAC) {
	wm, wi := map[MAC]netip.AddrPort{}, map[netip.Addr]MAC{}
	for range rng.IntN(4) {
		wm[macs[rng.IntN(len(macs))]] = vteps[rng.IntN(len(vteps))]
	}
	for range rng.IntN(4) {
		// Unmapped: two forms of one address in one call make either win.
		wi[ips[rng.IntN(len(ips))].Unmap()] = macs[rng.IntN(len(macs))]
	}
	return wm, wi
}

// refReplace is ReplaceStatic on the model: it returns the addresses whose
// binding is new or changed.
func refReplace(ref *model, vni uint32, wm map[MAC]netip.AddrPort, wi map[netip.Addr]MAC) []netip.Addr {
	want := map[macKey]netip.AddrPort{}
	for m, v := range wm {
		if !m.IsMulticast() && v.IsValid() {
			want[newMACKey(vni, m)] = v
		}
	}
	wantIP := map[ipKey]MAC{}
	for ip, m := range wi {
		if ip.IsValid() && !m.IsMulticast() {
			wantIP[ipKey{vni, ip.Unmap()}] = m
		}
	}
	refReplaceKind(ref.macs, vni, want)
	var changed []netip.Addr
	for k, m := range wantIP {
		if r, ok := ref.ips[k]; !ok || r.val != m {
			changed = append(changed, k.ip)
		}
	}
	refReplaceKind(ref.ips, vni, wantIP)
	return changed
}

func refReplaceKind[K key, V comparable](m map[K]refRow[V], vni uint32, want map[K]V) {
	maps.DeleteFunc(m, func(k K, r refRow[V]) bool {
		_, keep := want[k]
		return r.static && !keep && k.vniOf() == vni
	})
	for k, v := range want {
		m[k] = refRow[V]{val: v, static: true}
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func deleteVNIRef[K key, V comparable](m map[K]refRow[V], vni uint32) int {
	n := len(m)
	maps.DeleteFunc(m, func(k K, _ refRow[V]) bool { return k.vniOf() == vni })
	return n - len(m)
}

func compare(t *testing.T, when string, tb *Table, ref *model, vnis []uint32, macs []MAC, ips []netip.Addr) {
	t.Helper()
	for _, vni := range vnis {
		for _, mac := range macs {
			r, wantOK := ref.macs[newMACKey(vni, mac)]
			if got, ok := tb.Lookup(vni, mac); got != r.val || ok != wantOK {
				t.Fatalf("%s: Lookup(%d, %v) = %v, %v; want %v, %v", when, vni, mac, got, ok, r.val, wantOK)
			}
		}
		for _, ip := range ips {
			r, wantOK := ref.ips[ipKey{vni, ip.Unmap()}]
			if got, ok := tb.LookupIP(vni, ip); got != r.val || ok != wantOK {
				t.Fatalf("%s: LookupIP(%d, %v) = %v, %v; want %v, %v", when, vni, ip, got, ok, r.val, wantOK)
			}
		}
	}
	if m, i := tb.Len(); m != len(ref.macs) || i != len(ref.ips) {
		t.Fatalf("%s: Len() = %d, %d; want %d, %d", when, m, i, len(ref.macs), len(ref.ips))
	}
	var wantE []Entry
	for k, r := range ref.macs {
		wantE = append(wantE, Entry{VNI: k.vni, MAC: k.macOf(), VTEP: r.val, Static: r.static})
	}
	slices.SortFunc(wantE, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), bytes.Compare(a.MAC[:], b.MAC[:]))
	})
	gotE := tb.Entries()
	for i := range gotE {
		gotE[i].Age = 0 // measured against the real clock, which the test does not drive
	}
	if !slices.Equal(gotE, wantE) {
		t.Fatalf("%s: Entries() = %v; want %v", when, gotE, wantE)
	}
	var wantI []IPEntry
	for k, r := range ref.ips {
		wantI = append(wantI, IPEntry{VNI: k.vni, IP: k.ip, MAC: r.val, Static: r.static})
	}
	slices.SortFunc(wantI, func(a, b IPEntry) int {
		return cmp.Or(cmp.Compare(a.VNI, b.VNI), a.IP.Compare(b.IP))
	})
	gotI := tb.IPEntries()
	for i := range gotI {
		gotI[i].Age = 0
	}
	if !slices.Equal(gotI, wantI) {
		t.Fatalf("%s: IPEntries() = %v; want %v", when, gotI, wantI)
	}
}

// TestConcurrent runs lookups, listings and per-frame refreshes against a
// writer that learns, moves, deletes and expires rows. Run it with -race. Each
// key only ever maps to one of two values derived from it, so a reader that
// sees anything else has seen a torn or stale-pointer read.
func TestConcurrent(t *testing.T) {
	const keys, writes, readers = 16, 3000, 4
	macOf := func(i int) MAC { return MAC{0x02, 0, 0, 0, 0, byte(i)} }
	vtepOf := func(i, alt int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), uint16(4789+alt))
	}
	ipOf := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	validVTEP := func(i int, v netip.AddrPort) bool { return v == vtepOf(i, 0) || v == vtepOf(i, 1) }
	validMAC := func(i int, m MAC) bool { return m == macOf(i) || m == macOf(i+keys) }

	tb := New()
	done := make(chan struct{})
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for n := 0; ; n++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				i := rng.IntN(keys)
				if v, ok := tb.Lookup(1, macOf(i)); ok {
					if !validVTEP(i, v) {
						errs <- fmt.Errorf("Lookup(1, %v) = %v; want %v or %v", macOf(i), v, vtepOf(i, 0), vtepOf(i, 1))
						return
					}
					tb.Learn(1, macOf(i), v, time.Now()) // the per-frame refresh
				}
				if m, ok := tb.LookupIP(1, ipOf(i)); ok && !validMAC(i, m) {
					errs <- fmt.Errorf("LookupIP(1, %v) = %v; want %v or %v", ipOf(i), m, macOf(i), macOf(i+keys))
					return
				}
				if n%64 == 0 {
					es := tb.Entries()
					if !slices.IsSortedFunc(es, func(a, b Entry) int { return bytes.Compare(a.MAC[:], b.MAC[:]) }) {
						errs <- fmt.Errorf("Entries() = %v; want sorted", es)
						return
					}
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(99, 99))
	for range writes {
		i, alt := rng.IntN(keys), rng.IntN(2)
		switch rng.IntN(8) {
		case 0, 1, 2:
			tb.Learn(1, macOf(i), vtepOf(i, alt), time.Now())
		case 3:
			tb.AddStatic(1, macOf(i), vtepOf(i, alt))
		case 4:
			tb.Delete(1, macOf(i))
		case 5:
			tb.LearnIP(1, ipOf(i), macOf(i+alt*keys), time.Now())
		case 6:
			tb.DeleteIP(1, ipOf(i))
		case 7:
			tb.Expire(time.Now(), time.Duration(rng.IntN(1000))*time.Microsecond)
		}
	}
	close(done)
	wg.Wait()
	for range readers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestZeroAllocs proves that the per-packet operations do not allocate.
func TestZeroAllocs(t *testing.T) {
	tb := New()
	now := time.Now()
	tb.Learn(1, mac1, vtepC, now)
	tb.AddStatic(1, mac2, vtepA)
	tb.LearnIP(1, ip6, mac1, now)
	tb.LearnIP(1, ip1, mac1, now)
	var sink bool
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Lookup hit", func() { _, sink = tb.Lookup(1, mac1) }},
		{"Lookup miss", func() { _, sink = tb.Lookup(1, mac3) }},
		{"LookupIP hit IPv6", func() { _, sink = tb.LookupIP(1, ip6) }},
		{"LookupIP hit mapped", func() { _, sink = tb.LookupIP(1, ip1m) }},
		{"LookupIP miss", func() { _, sink = tb.LookupIP(1, ip2) }},
		{"Learn refresh", func() { now = now.Add(time.Millisecond); tb.Learn(1, mac1, vtepC, now) }},
		{"Learn on static", func() { tb.Learn(1, mac2, vtepB, now) }},
		{"Learn multicast", func() { tb.Learn(1, bcast, vtepB, now) }},
		{"LearnIP refresh", func() { now = now.Add(time.Millisecond); tb.LearnIP(1, ip6, mac1, now) }},
		{"LearnIP refresh mapped", func() { tb.LearnIP(1, ip1m, mac1, now) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tc.f); got != 0 {
				t.Errorf("got %v allocs per run; want 0", got)
			}
		})
	}
	_ = sink
	if macs, ips := tb.Len(); macs != 2 || ips != 2 {
		t.Errorf("Len() = %d, %d; want 2, 2 (no row added by the runs)", macs, ips)
	}
}

// benchTable returns a Table of n learned MACs and n learned IPs in VNI 1.
func benchTable(n int) (*Table, []MAC, []netip.Addr) {
	tb := New()
	now := time.Now()
	macs := make([]MAC, n)
	ips := make([]netip.Addr, n)
	for i := range n {
		macs[i] = MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		tb.Learn(1, macs[i], netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4789), now)
		tb.LearnIP(1, ips[i], macs[i], now)
	}
	return tb, macs, ips
}

func BenchmarkLookup(b *testing.B) {
	tb, macs, _ := benchTable(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Lookup(1, macs[i&1023])
		i++
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	tb, macs, _ := benchTable(1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			tb.Lookup(1, macs[i&1023])
		}
	})
}

func BenchmarkLookupIP(b *testing.B) {
	tb, _, ips := benchTable(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.LookupIP(1, ips[i&1023])
		i++
	}
}

func BenchmarkLearnRefresh(b *testing.B) {
	tb, macs, _ := benchTable(1024)
	vtep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 0}), 4789)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Nanosecond)
		tb.Learn(1, macs[0], vtep, now)
	}
}

// BenchmarkLearnRefreshParallel refreshes one hot MAC from every P, the
// worst case for the shared last-seen word.
func BenchmarkLearnRefreshParallel(b *testing.B) {
	tb, macs, _ := benchTable(1024)
	vtep := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 0}), 4789)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			now = now.Add(time.Nanosecond)
			tb.Learn(1, macs[0], vtep, now)
		}
	})
}

// BenchmarkLearnMove measures the copy-on-write path: a MAC moving between
// two VTEPs in a table of 1024 MACs.
func BenchmarkLearnMove(b *testing.B) {
	tb, macs, _ := benchTable(1024)
	vteps := [2]netip.AddrPort{vtepA, vtepB}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tb.Learn(1, macs[0], vteps[i&1], now)
		i++
	}
}

func TestReplaceStatic(t *testing.T) {
	ip3 := netip.MustParseAddr("10.0.0.3")
	tests := []struct {
		name        string
		before      []op
		macs        map[MAC]netip.AddrPort
		ips         map[netip.Addr]MAC
		wantMACs    []Entry
		wantIPs     []IPEntry
		wantChanged []netip.Addr
	}{
		{
			name: "empty table",
			macs: map[MAC]netip.AddrPort{mac1: vtepA}, ips: map[netip.Addr]MAC{ip1: mac1},
			wantMACs:    []Entry{{VNI: 1, MAC: mac1, VTEP: vtepA, Static: true}},
			wantIPs:     []IPEntry{{VNI: 1, IP: ip1, MAC: mac1, Static: true}},
			wantChanged: []netip.Addr{ip1},
		},
		{
			name:   "static rows not listed go, listed ones move",
			before: []op{static(1, mac1, vtepA), static(1, mac2, vtepA), staticIP(1, ip1, mac1), staticIP(1, ip2, mac2)},
			macs:   map[MAC]netip.AddrPort{mac2: vtepB}, ips: map[netip.Addr]MAC{ip2: mac2, ip3: mac2},
			wantMACs:    []Entry{{VNI: 1, MAC: mac2, VTEP: vtepB, Static: true}},
			wantIPs:     []IPEntry{{VNI: 1, IP: ip2, MAC: mac2, Static: true}, {VNI: 1, IP: ip3, MAC: mac2, Static: true}},
			wantChanged: []netip.Addr{ip3},
		},
		{
			name:    "an address handed to another MAC is changed",
			before:  []op{staticIP(1, ip1, mac1)},
			ips:     map[netip.Addr]MAC{ip1m: mac2},
			wantIPs: []IPEntry{{VNI: 1, IP: ip1, MAC: mac2, Static: true}}, wantChanged: []netip.Addr{ip1},
		},
		{
			name:   "learned rows stay unless listed; other VNIs untouched",
			before: []op{learn(1, mac1, vtepA, 0), learn(1, mac2, vtepA, 0), static(2, mac3, vtepC), learnIP(1, ip1, mac1, 0)},
			macs:   map[MAC]netip.AddrPort{mac2: vtepB}, ips: map[netip.Addr]MAC{ip1: mac1},
			wantMACs: []Entry{{VNI: 1, MAC: mac1, VTEP: vtepA}, {VNI: 1, MAC: mac2, VTEP: vtepB, Static: true},
				{VNI: 2, MAC: mac3, VTEP: vtepC, Static: true}},
			wantIPs: []IPEntry{{VNI: 1, IP: ip1, MAC: mac1, Static: true}},
		},
		{
			name:     "multicast MACs and invalid VTEPs are ignored",
			macs:     map[MAC]netip.AddrPort{bcast: vtepA, mac1: {}, mac2: vtepB},
			ips:      map[netip.Addr]MAC{ip1: bcast, {}: mac1},
			wantMACs: []Entry{{VNI: 1, MAC: mac2, VTEP: vtepB, Static: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := run(tt.before...)
			changed := tb.ReplaceStatic(1, tt.macs, tt.ips)
			if !sameAddrs(changed, tt.wantChanged) {
				t.Errorf("changed = %v; want %v", changed, tt.wantChanged)
			}
			gotM, gotI := tb.Entries(), tb.IPEntries()
			for i := range gotM {
				gotM[i].Age = 0
			}
			for i := range gotI {
				gotI[i].Age = 0
			}
			if !slices.Equal(gotM, tt.wantMACs) {
				t.Errorf("Entries() = %v; want %v", gotM, tt.wantMACs)
			}
			if !slices.Equal(gotI, tt.wantIPs) {
				t.Errorf("IPEntries() = %v; want %v", gotI, tt.wantIPs)
			}
		})
	}
}

// TestReplaceStaticCopiesOnce checks that a change set publishes one new
// generation of each kind's shards, and a call that changes nothing
// publishes none, so that readers keep the snapshot they hold.
func TestReplaceStaticCopiesOnce(t *testing.T) {
	tb := New()
	macs, ips := map[MAC]netip.AddrPort{}, map[netip.Addr]MAC{}
	for i := range 100 {
		m := MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		macs[m] = vtepA
		ips[netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})] = m
	}
	beforeM, beforeI := tb.macs.p.Load(), tb.ips.p.Load()
	tb.ReplaceStatic(1, macs, ips)
	afterM, afterI := tb.macs.p.Load(), tb.ips.p.Load()
	if afterM == beforeM || afterI == beforeI || afterM.len() != 100 || afterI.len() != 100 {
		t.Fatalf("after the first call: maps replaced %v, %v with %d, %d rows; want both replaced, 100 rows each",
			afterM != beforeM, afterI != beforeI, afterM.len(), afterI.len())
	}
	if changed := tb.ReplaceStatic(1, macs, ips); len(changed) != 0 {
		t.Errorf("the same state again changed %v; want nothing", changed)
	}
	if tb.macs.p.Load() != afterM || tb.ips.p.Load() != afterI {
		t.Error("the same state again published new maps; want none")
	}
}

// BenchmarkReplaceStatic measures programming a network of 1,000 remote
// endpoints in which one moved: the cost of one change set.
func BenchmarkReplaceStatic(b *testing.B) {
	tb := New()
	macs, ips := map[MAC]netip.AddrPort{}, map[netip.Addr]MAC{}
	for i := range 1000 {
		m := MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		macs[m] = vtepA
		ips[netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})] = m
	}
	tb.ReplaceStatic(1, macs, ips)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		macs[mac1] = []netip.AddrPort{vtepA, vtepB}[i%2]
		tb.ReplaceStatic(1, macs, ips)
	}
}

// BenchmarkProgramNetwork programs the rows of 1,000 remote endpoints into
// an empty table: row by row, as the reconciler did before ReplaceStatic
// (a copy of the map per row), and as one change set.
func BenchmarkProgramNetwork(b *testing.B) {
	macs, ips := map[MAC]netip.AddrPort{}, map[netip.Addr]MAC{}
	for i := range 1000 {
		m := MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
		macs[m] = vtepA
		ips[netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})] = m
	}
	b.Run("row-by-row", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb := New()
			for ip, m := range ips {
				tb.AddStatic(1, m, macs[m])
				tb.AddStaticIP(1, ip, m)
			}
		}
	})
	b.Run("one-change-set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			New().ReplaceStatic(1, macs, ips)
		}
	})
}
