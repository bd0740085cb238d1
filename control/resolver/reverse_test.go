package resolver

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestParseReverse pins which reverse names are one full address.
func TestParseReverse(t *testing.T) {
	tests := []struct {
		name string
		want string // "" for not an address
	}{
		{name: "2.0.0.10.in-addr.arpa.", want: "10.0.0.2"},
		{name: "255.255.255.255.in-addr.arpa.", want: "255.255.255.255"},
		{name: "0.0.0.0.in-addr.arpa.", want: "0.0.0.0"},
		{name: dnsReverse("2001:db8::1"), want: "2001:db8::1"},
		{name: dnsReverse("fd00:a::2"), want: "fd00:a::2"},
		{name: "0.10.in-addr.arpa."},
		{name: "in-addr.arpa."},
		{name: ".in-addr.arpa."},
		{name: "1.2.0.0.10.in-addr.arpa."},
		{name: "256.0.0.10.in-addr.arpa."},
		{name: "02.0.0.10.in-addr.arpa."},
		{name: "-1.0.0.10.in-addr.arpa."},
		{name: "+1.0.0.10.in-addr.arpa."},
		{name: "a.0.0.10.in-addr.arpa."},
		{name: "2..0.10.in-addr.arpa."},
		{name: "2.0.0.10.in-addr.arpa"},
		{name: "2.0.0.10.example."},
		{name: "8.b.d.0.1.0.0.2.ip6.arpa."},
		{name: strings.Replace(dnsReverse("2001:db8::1"), "1.", "g.", 1)},
		{name: strings.Replace(dnsReverse("2001:db8::1"), "1.", "11", 1)},
		{name: "x." + dnsReverse("2001:db8::1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := parseReverse(tc.name)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("got %q (ok %v); want %q", got, ok, tc.want)
			}
		})
	}
}

// TestReverseRoundTrip checks parseReverse against miekg's ReverseAddr on
// random addresses.
func TestReverseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		a := netip.AddrFrom16(b)
		if rng.IntN(2) == 0 {
			a = netip.AddrFrom4([4]byte(b[:4]))
		}
		name := strings.ToLower(dnsReverse(a.String()))
		if got, ok := parseReverse(name); !ok || got != a {
			t.Fatalf("parseReverse(%q): got %v, %v; want %v, true", name, got, ok, a)
		}
	}
}

// FuzzParseReverse checks that whatever parseReverse accepts is exactly
// the reverse name of the address it returns.
func FuzzParseReverse(f *testing.F) {
	f.Add("2.0.0.10.in-addr.arpa.")
	f.Add(dnsReverse("2001:db8::1"))
	f.Add("0.10.in-addr.arpa.")
	f.Fuzz(func(t *testing.T, name string) {
		a, ok := parseReverse(name)
		if !ok {
			return
		}
		if want, _ := dns.ReverseAddr(a.String()); want != name {
			t.Fatalf("parseReverse(%q) = %v, whose reverse name is %q", name, a, want)
		}
	})
}
