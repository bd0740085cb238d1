package resolver

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// answerCase is one question and what the zones must say to it.
type answerCase struct {
	name    string
	qname   string
	qtype   uint16
	on      []string // the asker's networks
	forward bool     // not local: forwarded
	rcode   int      // unless forward
	answers []string // unless forward, as rrStrings renders them
}

// answerCases pin the answering rules on zones A and B.
var answerCases = []answerCase{
	{name: "name A", qname: "web.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.2"}},
	{name: "name AAAA", qname: "web.", qtype: dns.TypeAAAA, on: []string{"A"}, answers: []string{"AAAA fd00:a::2"}},
	{name: "name ANY", qname: "web.", qtype: dns.TypeANY, on: []string{"A"}, answers: []string{"A 10.0.0.2", "AAAA fd00:a::2"}},
	{name: "name other type is NODATA", qname: "web.", qtype: dns.TypeMX, on: []string{"A"}},
	{name: "name without AAAA is NODATA", qname: "db.", qtype: dns.TypeAAAA, on: []string{"A"}},
	{name: "endpoint without addresses is NODATA", qname: "noaddr.", qtype: dns.TypeA, on: []string{"A"}},
	{name: "case-insensitive", qname: "WeB.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.2"}},
	{name: "alias", qname: "www.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.2"}},
	{name: "alias of nameless endpoint", qname: "anon.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.4"}},
	{name: "shared alias deduplicated", qname: "shared.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.2", "A 10.0.0.6"}},
	{name: "shared alias across networks", qname: "shared.", qtype: dns.TypeA, on: []string{"A", "B"}, answers: []string{"A 10.0.0.2", "A 10.0.0.6", "A 10.1.0.3"}},
	{name: "name on both networks", qname: "web.", qtype: dns.TypeA, on: []string{"B", "A"}, answers: []string{"A 10.1.0.3", "A 10.0.0.2"}},
	{name: "repeated network counted once", qname: "web.", qtype: dns.TypeA, on: []string{"A", "A"}, answers: []string{"A 10.0.0.2"}},
	{name: "qualified", qname: "web.anet.", qtype: dns.TypeA, on: []string{"A", "B"}, answers: []string{"A 10.0.0.2"}},
	{name: "qualified case-insensitive", qname: "WEB.BNet.", qtype: dns.TypeA, on: []string{"A", "B"}, answers: []string{"A 10.1.0.3"}},
	{name: "qualified dotted name", qname: "my.app.anet.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.5"}},
	{name: "dotted name unqualified", qname: "my.app.", qtype: dns.TypeA, on: []string{"A"}, answers: []string{"A 10.0.0.5"}},
	{name: "dotted name of another network is not ours", qname: "my.app.", qtype: dns.TypeA, on: []string{"B"}, forward: true},
	{name: "unknown single label", qname: "nosuch.", qtype: dns.TypeA, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "unknown single label, no networks", qname: "web.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
	{name: "unknown in own network", qname: "nosuch.anet.", qtype: dns.TypeA, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "isolation: other network's name", qname: "secret.", qtype: dns.TypeA, on: []string{"A"}, rcode: dns.RcodeNameError},
	// Another network's NAME.NET is not answered locally: it goes upstream,
	// like any name that is not the asker's, so a network named like a
	// real domain does not hide it.
	{name: "isolation: other network qualified", qname: "secret.bnet.", qtype: dns.TypeA, on: []string{"A"}, forward: true},
	{name: "isolation: shared name qualified elsewhere", qname: "web.bnet.", qtype: dns.TypeA, on: []string{"A"}, forward: true},
	{name: "isolation: other network, other type", qname: "secret.bnet.", qtype: dns.TypeTXT, on: []string{"A"}, forward: true},
	{name: "invalid name left out", qname: "bad..name.", qtype: dns.TypeA, on: []string{"A"}, forward: true},
	{name: "unknown network ID ignored", qname: "web.", qtype: dns.TypeA, on: []string{"Z"}, rcode: dns.RcodeNameError},
	{name: "external name", qname: "example.com.", qtype: dns.TypeA, on: []string{"A"}, forward: true},
	{name: "external name ending in a name", qname: "web.example.", qtype: dns.TypeA, on: []string{"A"}, forward: true},
	{name: "root", qname: ".", qtype: dns.TypeNS, on: []string{"A"}, forward: true},
	{name: "PTR v4", qname: "2.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, answers: []string{"PTR web.anet."}},
	{name: "PTR v4 upper case", qname: "2.0.0.10.IN-ADDR.ARPA.", qtype: dns.TypePTR, on: []string{"A"}, answers: []string{"PTR web.anet."}},
	{name: "PTR v6", qname: dnsReverse("fd00:a::2"), qtype: dns.TypePTR, on: []string{"A"}, answers: []string{"PTR web.anet."}},
	{name: "PTR names the first endpoint", qname: "6.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, answers: []string{"PTR twin.anet."}},
	{name: "PTR of dotted name", qname: "5.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, answers: []string{"PTR my.app.anet."}},
	{name: "reverse name, other type", qname: "2.0.0.10.in-addr.arpa.", qtype: dns.TypeA, on: []string{"A"}},
	{name: "PTR of nameless endpoint", qname: "4.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "PTR in subnet", qname: "99.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "PTR isolation: other network's endpoint", qname: "2.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "PTR other network's endpoint when on it", qname: "2.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A", "B"}, answers: []string{"PTR secret.bnet."}},
	{name: "PTR in other network's subnet", qname: "99.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
	{name: "PTR in v6 subnet", qname: dnsReverse("fd00:a::99"), qtype: dns.TypePTR, on: []string{"A"}, rcode: dns.RcodeNameError},
	{name: "PTR outside", qname: "8.8.8.8.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, forward: true},
	{name: "PTR partial name", qname: "0.10.in-addr.arpa.", qtype: dns.TypeSOA, on: []string{"A"}, forward: true},
	{name: "PTR malformed", qname: "x.2.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, on: []string{"A"}, forward: true},
}

// dnsReverse is the reverse name of the address s.
func dnsReverse(s string) string {
	n, err := dns.ReverseAddr(s)
	if err != nil {
		panic(err)
	}
	return n
}

// TestLookup pins the answering rules on the pure lookup.
func TestLookup(t *testing.T) {
	r := newResolver(t)
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			q := dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET}
			res := r.snap.Load().lookup(q, tc.on, 7)
			if res.forward != tc.forward {
				t.Fatalf("forward: got %v; want %v", res.forward, tc.forward)
			}
			if tc.forward {
				return
			}
			if res.rcode != tc.rcode {
				t.Errorf("rcode: got %s; want %s", dns.RcodeToString[res.rcode], dns.RcodeToString[tc.rcode])
			}
			if got := rrStrings(res.answer); !slices.Equal(got, tc.answers) {
				t.Errorf("answers: got %q; want %q", got, tc.answers)
			}
			for _, rr := range res.answer {
				if h := rr.Header(); h.Name != tc.qname || h.Ttl != 7 || h.Class != dns.ClassINET {
					t.Errorf("record header: got %q TTL %d class %d; want %q TTL 7 class IN", h.Name, h.Ttl, h.Class, tc.qname)
				}
			}
		})
	}
}
