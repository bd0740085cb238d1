package resolver

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// result is what the zones say about one question.
type result struct {
	forward bool     // not a local name: ask the upstreams
	rcode   int      // unless forward: dns.RcodeSuccess or dns.RcodeNameError
	answer  []dns.RR // unless forward: the records, none for NODATA or NXDOMAIN
}

var (
	forwardIt = result{forward: true}
	nxdomain  = result{rcode: dns.RcodeNameError}
)

// lookup answers q for an asker on the networks on, from s alone; local
// records get the TTL ttl. It is the whole of the answering rules but for
// message handling and forwarding.
func (s *snapshot) lookup(q dns.Question, on []string, ttl uint32) result {
	name := strings.ToLower(q.Name)
	zones := s.askerZones(on)
	if isReverse(name) {
		return s.lookupReverse(q, name, zones, ttl)
	}
	addrs, found, ours := s.match(name, zones)
	switch {
	case !ours:
		return forwardIt
	case !found:
		return nxdomain
	}
	return result{answer: addrRecords(q, addrs, ttl)}
}

// match finds the lower-cased FQDN name in zones, the asker's. ours reports
// whether the name is the resolver's to answer; found, whether an endpoint
// has it. A name of one label is always ours. A longer one is ours if it
// is a (dotted) name of one of the asker's zones, or NAME.NET where NET is
// one of the asker's zones; names in other networks, and every other name,
// are not: they go to the upstreams, as Docker's resolver sends them, so
// that a network named like a real domain does not hide that domain.
func (s *snapshot) match(name string, zones []*zoneIndex) (addrs []netip.Addr, found, ours bool) {
	labels := dns.SplitDomainName(name)
	switch len(labels) {
	case 0:
		return nil, false, false // the root
	case 1:
		addrs, found = collect(zones, "", labels[0])
		return addrs, found, true
	}
	if addrs, found = collect(zones, "", strings.Join(labels, ".")); found {
		return addrs, true, true
	}
	seen := make(addrSet)
	for i := 1; i < len(labels); i++ {
		network := strings.Join(labels[i:], ".")
		if !slices.ContainsFunc(zones, func(z *zoneIndex) bool { return z.name == network }) {
			continue
		}
		ours = true
		a, f := collect(zones, network, strings.Join(labels[:i], "."))
		addrs, found = seen.appendNew(addrs, a), found || f
	}
	return addrs, found, ours
}

// collect returns the addresses of key in those of zones named network (all
// of them when network is ""), deduplicated, and whether any has key.
func collect(zones []*zoneIndex, network, key string) (addrs []netip.Addr, found bool) {
	seen := make(addrSet)
	for _, z := range zones {
		if network != "" && z.name != network {
			continue
		}
		if a, ok := z.names[key]; ok {
			addrs, found = seen.appendNew(addrs, a), true
		}
	}
	return addrs, found
}

// lookupReverse answers q for the reverse name name.
func (s *snapshot) lookupReverse(q dns.Question, name string, zones []*zoneIndex, ttl uint32) result {
	a, ok := parseReverse(name)
	if !ok {
		return forwardIt
	}
	for _, z := range zones {
		if target, ok := z.ptr[a]; ok {
			return result{answer: ptrRecords(q, target, ttl)}
		}
	}
	if s.owns(a) {
		return nxdomain
	}
	return forwardIt
}

// addrRecords returns the A and AAAA records of addrs that q asks for.
func addrRecords(q dns.Question, addrs []netip.Addr, ttl uint32) []dns.RR {
	var rrs []dns.RR
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			rrs = append(rrs, &dns.A{Hdr: header(q, dns.TypeA, ttl), A: a.AsSlice()})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			rrs = append(rrs, &dns.AAAA{Hdr: header(q, dns.TypeAAAA, ttl), AAAA: a.AsSlice()})
		}
	}
	return rrs
}

// ptrRecords returns the PTR record to target if q asks for one.
func ptrRecords(q dns.Question, target string, ttl uint32) []dns.RR {
	if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
		return nil
	}
	return []dns.RR{&dns.PTR{Hdr: header(q, dns.TypePTR, ttl), Ptr: target}}
}

// header returns the header of a record of type t answering q, named as
// the client spelled it.
func header(q dns.Question, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}
