package resolver

import "github.com/miekg/dns"

// Known answers req for an asker on the networks on from the zones alone,
// for a server that others fall back from (weftd's Docker DNS: Docker asks
// the next server when it is refused). It returns the authoritative
// answer when a zone of on has the name asked (a NOERROR with no records
// when the name has none of the type asked), or, for a PTR query, the
// address; nil for anything else, which the caller refuses: names it does
// not know, including one-label ones that Answer would call NXDOMAIN.
func (r *Resolver) Known(req *dns.Msg, on []string) *dns.Msg {
	if len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET {
		return nil
	}
	res := r.snap.Load().lookup(req.Question[0], on, r.cfg.TTL)
	if res.forward || res.rcode != dns.RcodeSuccess {
		return nil
	}
	r.stats.local.Add(1)
	m := reply(req)
	m.Authoritative = true
	m.Answer = res.answer
	return m
}
