package fdb

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestDumpVNI(t *testing.T) {
	tb, _ := run(
		learn(1, mac2, vtepA, -2*time.Second),
		static(1, mac3, vtepB),
		learn(1, mac1, vtepC, -time.Second),
		learn(2, mac1, vtepA, -5*time.Second),
		learnIP(1, ip6, mac1, -3*time.Second),
		staticIP(1, ip1m, mac3),
		learnIP(2, ip2, mac1, 0),
		learn(5, mac1, vtepA, 0), // MAC rows only
		staticIP(6, ip2, mac2),   // IP rows only
	)
	d := tb.DumpVNI(1)
	wantMACs := []Entry{
		{VNI: 1, MAC: mac1, VTEP: vtepC, Age: time.Second},
		{VNI: 1, MAC: mac2, VTEP: vtepA, Age: 2 * time.Second},
		{VNI: 1, MAC: mac3, VTEP: vtepB, Static: true},
	}
	wantIPs := []IPEntry{
		{VNI: 1, IP: ip1, MAC: mac3, Static: true},
		{VNI: 1, IP: ip6, MAC: mac1, Age: 3 * time.Second},
	}
	// Age grows between run and DumpVNI; allow a generous second.
	near := func(got, want time.Duration) bool { return got >= want && got < want+time.Second }
	if len(d.MACs) != len(wantMACs) {
		t.Fatalf("MACs: got %v; want %v", d.MACs, wantMACs)
	}
	for i, w := range wantMACs {
		g := d.MACs[i]
		if near(g.Age, w.Age) {
			g.Age = w.Age
		}
		if g != w {
			t.Errorf("MAC row %d: got %+v; want %+v", i, d.MACs[i], w)
		}
	}
	if len(d.IPs) != len(wantIPs) {
		t.Fatalf("IPs: got %v; want %v", d.IPs, wantIPs)
	}
	for i, w := range wantIPs {
		g := d.IPs[i]
		if near(g.Age, w.Age) {
			g.Age = w.Age
		}
		if g != w {
			t.Errorf("IP row %d: got %+v; want %+v", i, d.IPs[i], w)
		}
	}
	if time.Since(d.Taken) > time.Minute || d.Taken.After(time.Now()) {
		t.Errorf("Taken = %v; want about now", d.Taken)
	}
	if empty := tb.DumpVNI(3); len(empty.MACs) != 0 || len(empty.IPs) != 0 {
		t.Errorf("DumpVNI(3) = %+v; want no rows", empty)
	}
	if got, want := tb.VNIs(), []uint32{1, 2, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("VNIs() = %v; want %v", got, want)
	}
}

// TestDumpVNIAgainstEntries checks DumpVNI against Entries and IPEntries
// filtered by VNI, after random writes.
func TestDumpVNIAgainstEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	tb := New()
	now := time.Now()
	vteps := []netip.AddrPort{vtepA, vtepB, vtepC}
	for i := range 2000 {
		vni := uint32(rng.IntN(4))
		m := MAC{0x02, 0, 0, 0, 0, byte(rng.IntN(16))}
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(16))})
		switch rng.IntN(5) {
		case 0:
			tb.Learn(vni, m, vteps[rng.IntN(3)], now)
		case 1:
			tb.AddStatic(vni, m, vteps[rng.IntN(3)])
		case 2:
			tb.LearnIP(vni, ip, m, now)
		case 3:
			tb.AddStaticIP(vni, ip, m)
		case 4:
			tb.Delete(vni, m)
			tb.DeleteIP(vni, ip)
		}
		if i%200 != 199 {
			continue
		}
		for vni := range uint32(5) {
			d := tb.DumpVNI(vni)
			macs := slices.DeleteFunc(tb.Entries(), func(e Entry) bool { return e.VNI != vni })
			ips := slices.DeleteFunc(tb.IPEntries(), func(e IPEntry) bool { return e.VNI != vni })
			if !slices.EqualFunc(d.MACs, macs, func(a, b Entry) bool { a.Age, b.Age = 0, 0; return a == b }) {
				t.Fatalf("after %d writes, DumpVNI(%d).MACs = %v; want %v", i+1, vni, d.MACs, macs)
			}
			if !slices.EqualFunc(d.IPs, ips, func(a, b IPEntry) bool { a.Age, b.Age = 0, 0; return a == b }) {
				t.Fatalf("after %d writes, DumpVNI(%d).IPs = %v; want %v", i+1, vni, d.IPs, ips)
			}
		}
	}
}

// TestDumpVNITakesNoLock checks that a dump never waits for a writer, so
// that it can never hold up the data path's writers (or readers) either.
func TestDumpVNITakesNoLock(t *testing.T) {
	tb, _ := run(learn(1, mac1, vtepA, 0), learnIP(1, ip1, mac1, 0))
	tb.macs.mu.Lock()
	tb.ips.mu.Lock()
	defer tb.macs.mu.Unlock()
	defer tb.ips.mu.Unlock()
	done := make(chan Dump, 1)
	go func() { done <- tb.DumpVNI(1) }()
	select {
	case d := <-done:
		if len(d.MACs) != 1 || len(d.IPs) != 1 {
			t.Fatalf("got %+v; want one row of each kind", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DumpVNI waited for the writers' lock")
	}
}
