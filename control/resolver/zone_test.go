package resolver

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// lookupA is the A and AAAA records of name for an asker on networks.
func lookupA(r *Resolver, name string, networks ...string) result {
	return r.snap.Load().lookup(dns.Question{Name: name, Qtype: dns.TypeANY, Qclass: dns.ClassINET}, networks, 0)
}

// lookupCase is what looking a name up should give.
type lookupCase struct {
	name    string
	forward bool
	rcode   int
	answers []string
}

// checkLookups looks each case's name up for an asker on networks.
func checkLookups(t *testing.T, r *Resolver, tests []lookupCase, networks ...string) {
	t.Helper()
	for _, tc := range tests {
		res := lookupA(r, tc.name, networks...)
		if got := rrStrings(res.answer); res.forward != tc.forward || res.rcode != tc.rcode || !slices.Equal(got, tc.answers) {
			t.Errorf("%s: got forward=%v %s %q; want forward=%v %s %q", tc.name,
				res.forward, dns.RcodeToString[res.rcode], got, tc.forward, dns.RcodeToString[tc.rcode], tc.answers)
		}
	}
}

// TestSetZoneCopies checks that the resolver keeps its own copy of a Zone.
func TestSetZoneCopies(t *testing.T) {
	r := newResolver(t)
	z := Zone{ID: "C", Name: "cnet", Subnets: []netip.Prefix{pfx("10.3.0.0/24")},
		Endpoints: []Endpoint{{Name: "app", Aliases: []string{"alias"}, Addrs: addrs("10.3.0.2")}}}
	r.SetZone(z)
	z.Name = "changed"
	z.Subnets[0] = pfx("192.0.2.0/24")
	z.Endpoints[0].Name = "other"
	z.Endpoints[0].Aliases[0] = "other2"
	z.Endpoints[0].Addrs[0] = netip.MustParseAddr("10.3.0.99")
	for _, name := range []string{"app.", "alias.", "app.cnet."} {
		if got := rrStrings(lookupA(r, name, "C").answer); !slices.Equal(got, []string{"A 10.3.0.2"}) {
			t.Errorf("%s: got %q; want [A 10.3.0.2]", name, got)
		}
	}
	if res := lookupA(r, "9.0.3.10.in-addr.arpa.", "C"); res.forward {
		t.Error("reverse name in the subnet set: got forwarded; want NXDOMAIN")
	}
}

// TestSetZoneReplaces checks that SetZone replaces a zone whole.
func TestSetZoneReplaces(t *testing.T) {
	r := newResolver(t)
	r.SetZone(Zone{ID: "A", Name: "renamed", Endpoints: []Endpoint{{Name: "fresh", Addrs: addrs("10.0.0.9")}}})
	tests := []lookupCase{
		{name: "web.", rcode: dns.RcodeNameError},
		{name: "fresh.", answers: []string{"A 10.0.0.9"}},
		{name: "fresh.renamed.", answers: []string{"A 10.0.0.9"}},
		{name: "fresh.anet.", forward: true}, // no zone is called anet any more
		{name: "2.0.0.10.in-addr.arpa.", forward: true},
	}
	checkLookups(t, r, tests, "A")
}

// TestRemoveZone checks that a removed network's names and addresses stop
// being the resolver's.
func TestRemoveZone(t *testing.T) {
	r := newResolver(t)
	r.RemoveZone("B")
	r.RemoveZone("no such zone")
	for _, name := range []string{"secret.bnet.", "99.0.1.10.in-addr.arpa.", "2.0.1.10.in-addr.arpa."} {
		if res := lookupA(r, name, "A", "B"); !res.forward {
			t.Errorf("%s: got %s; want forwarded", name, dns.RcodeToString[res.rcode])
		}
	}
	if res := lookupA(r, "secret.", "A", "B"); res.rcode != dns.RcodeNameError {
		t.Errorf("secret.: got %s; want NXDOMAIN", dns.RcodeToString[res.rcode])
	}
	if got := rrStrings(lookupA(r, "web.", "A", "B").answer); !slices.Equal(got, []string{"A 10.0.0.2", "AAAA fd00:a::2"}) {
		t.Errorf("web.: got %q; want zone A's only", got)
	}
}

// TestZoneCleansInput checks how odd Zone contents are indexed.
func TestZoneCleansInput(t *testing.T) {
	r := newResolver(t)
	r.SetZone(Zone{ID: "D", Name: "DNet.", Subnets: []netip.Prefix{pfx("10.4.0.5/24"), {}},
		Endpoints: []Endpoint{
			{Name: "Mapped.", Addrs: []netip.Addr{netip.MustParseAddr("::ffff:10.4.0.2"), {}, netip.MustParseAddr("fe80::1%eth0")}},
		}})
	tests := []lookupCase{
		{name: "mapped.", answers: []string{"A 10.4.0.2", "AAAA fe80::1"}},
		{name: "MAPPED.dnet.", answers: []string{"A 10.4.0.2", "AAAA fe80::1"}},
		{name: "2.0.4.10.in-addr.arpa.", answers: []string{"PTR Mapped.DNet."}},
		{name: "99.0.4.10.in-addr.arpa.", rcode: dns.RcodeNameError},
	}
	checkLookups(t, r, tests, "D")
}

// TestZoneWithoutName checks that a zone without a Name answers its names
// unqualified only, gives no PTR, and still keeps its addresses from
// being forwarded.
func TestZoneWithoutName(t *testing.T) {
	r := newResolver(t)
	r.SetZone(Zone{ID: "E", Endpoints: []Endpoint{{Name: "solo", Addrs: addrs("10.5.0.2")}}})
	if got := rrStrings(lookupA(r, "solo.", "E").answer); !slices.Equal(got, []string{"A 10.5.0.2"}) {
		t.Errorf("solo.: got %q; want [A 10.5.0.2]", got)
	}
	if res := lookupA(r, "2.0.5.10.in-addr.arpa.", "E"); res.forward || res.rcode != dns.RcodeNameError {
		t.Errorf("PTR: got forward=%v %s; want NXDOMAIN", res.forward, dns.RcodeToString[res.rcode])
	}
}

// TestConcurrentZones swaps zones while queries run; under -race it
// checks the snapshot discipline, and each answer must be the old zone's
// or the new one's, never a mix.
func TestConcurrentZones(t *testing.T) {
	r := newResolver(t)
	v1 := Zone{ID: "C", Name: "cnet", Endpoints: []Endpoint{{Name: "x", Aliases: []string{"y"}, Addrs: addrs("10.3.0.1")}}}
	v2 := Zone{ID: "C", Name: "cnet", Endpoints: []Endpoint{{Name: "x", Aliases: []string{"y"}, Addrs: addrs("10.3.0.2")}}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 500 {
			switch i % 3 {
			case 0:
				r.SetZone(v1)
			case 1:
				r.SetZone(v2)
			default:
				r.RemoveZone("C")
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 500 {
				got := strings.Join(rrStrings(lookupA(r, "x.cnet.", "C").answer), ",")
				if got != "" && got != "A 10.3.0.1" && got != "A 10.3.0.2" {
					t.Errorf("got %q; want one zone version's answer", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestLookupModel compares lookups on random zones with a plain reference
// model of the naming rules.
func TestLookupModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	names := []string{"a", "b", "c", "a.b"}
	nets := []string{"x", "y", "b.x", "a"}
	for round := range 200 {
		r := newResolver(t)
		r.RemoveZone("A")
		r.RemoveZone("B")
		zones := randomZones(rng, names, nets)
		for _, z := range zones {
			r.SetZone(z)
		}
		asker := randomSubset(rng, []string{"1", "2", "3", "4"})
		for _, n := range names {
			for _, suffix := range append([]string{"", "b", "z.x"}, nets...) {
				q := n + "."
				if suffix != "" {
					q = n + "." + suffix + "."
				}
				got := lookupA(r, strings.ToUpper(q), asker...)
				want := modelLookup(zones, asker, q)
				if gotS := fmt.Sprint(got.forward, got.rcode, sortedAddrs(got.answer)); gotS != want {
					t.Fatalf("round %d: %s for %v on %+v: got %s; want %s", round, q, asker, zones, gotS, want)
				}
			}
		}
	}
}

// randomZones makes zones 1..4 with random names over a tiny universe, so
// that names, aliases and addresses collide often.
func randomZones(rng *rand.Rand, names, nets []string) []Zone {
	var zones []Zone
	for id := 1; id <= 4; id++ {
		z := Zone{ID: fmt.Sprint(id), Name: nets[rng.IntN(len(nets))]}
		for range rng.IntN(4) {
			ep := Endpoint{Name: names[rng.IntN(len(names))]}
			if rng.IntN(3) == 0 {
				ep.Name = ""
			}
			ep.Aliases = randomSubset(rng, names)
			for range rng.IntN(3) {
				ep.Addrs = append(ep.Addrs, netip.AddrFrom4([4]byte{10, 9, 0, byte(rng.IntN(6))}))
			}
			z.Endpoints = append(z.Endpoints, ep)
		}
		zones = append(zones, z)
	}
	return zones
}

// randomSubset returns a random subset of s.
func randomSubset(rng *rand.Rand, s []string) []string {
	var out []string
	for _, x := range s {
		if rng.IntN(2) == 0 {
			out = append(out, x)
		}
	}
	return out
}

// modelLookup is the naming rules written plainly: the FQDN q is N. (match
// in every zone the asker is on; a name of one label is always ours, a
// dotted one ours if it matches), or else N.NET. for any split where NET
// names a zone the asker is on (ours; match in those zones); ours but
// unmatched is NXDOMAIN; not ours is forwarded.
func modelLookup(zones []Zone, asker []string, q string) string {
	labels := strings.Split(strings.TrimSuffix(q, "."), ".")
	ours, found := len(labels) == 1, false
	var hits []netip.Addr
	match := func(z Zone, n string) {
		for _, ep := range z.Endpoints {
			if (ep.Name != "" && ep.Name == n) || slices.Contains(ep.Aliases, n) {
				found = true
				hits = append(hits, ep.Addrs...)
			}
		}
	}
	for _, z := range zones {
		if slices.Contains(asker, z.ID) {
			match(z, strings.Join(labels, "."))
		}
	}
	ours = ours || found
	dotted := found && len(labels) > 1 // a dotted name matched whole: no split
	for _, z := range zones {
		if dotted || !slices.Contains(asker, z.ID) {
			continue
		}
		for i := 1; i < len(labels); i++ {
			if strings.Join(labels[i:], ".") == z.Name {
				ours = true
				match(z, strings.Join(labels[:i], "."))
			}
		}
	}
	slices.SortFunc(hits, netip.Addr.Compare)
	hits = slices.Compact(hits)
	switch {
	case !ours:
		return fmt.Sprint(true, 0, []string{})
	case !found:
		return fmt.Sprint(false, dns.RcodeNameError, []string{})
	}
	return fmt.Sprint(false, dns.RcodeSuccess, addrStrings(hits))
}

// sortedAddrs returns the addresses of A records, sorted.
func sortedAddrs(rrs []dns.RR) []string {
	var as []netip.Addr
	for _, rr := range rrs {
		a, _ := netip.AddrFromSlice(rr.(*dns.A).A)
		as = append(as, a.Unmap())
	}
	slices.SortFunc(as, netip.Addr.Compare)
	if len(as) != len(slices.Compact(slices.Clone(as))) {
		return []string{"duplicates!"}
	}
	return addrStrings(as)
}

// addrStrings renders addresses.
func addrStrings(as []netip.Addr) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}
