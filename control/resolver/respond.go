package resolver

import (
	"context"
	"encoding/binary"

	"github.com/miekg/dns"
)

// Message limits.
const (
	headerLen  = 12   // a DNS header
	maxUDPSize = 4096 // the most a UDP answer is made to hold, and the size the resolver offers in EDNS0
)

// respond answers the query raw that came over proto ("udp" or "tcp") from
// a container on the networks networks returns, forwarding in the
// container's slots q, and returns the packed answer, or nil to send
// nothing. It is the whole query path of a server but for the socket.
func (r *Resolver) respond(ctx context.Context, raw []byte, proto string, networks func() []string, q *quota) []byte {
	req, reject := parseQuery(raw)
	if req == nil {
		r.stats.malformed.Add(1)
		if reject == nil {
			return nil
		}
		return pack(reject)
	}
	resp := r.answer(ctx, req, proto, networks, q)
	resp.Id, resp.Question = req.Id, req.Question
	resp.RecursionAvailable = true // forwarding is recursion, whatever the upstream says
	resp.Compress = true
	resp.Truncate(sizeLimit(req, proto))
	b, err := resp.Pack()
	if err != nil {
		return pack(servfail(req))
	}
	return b
}

// parseQuery unpacks raw. It returns the query; or, for one that cannot
// be answered, the error reply to send; or neither, to drop raw.
func parseQuery(raw []byte) (req, reject *dns.Msg) {
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		return nil, nil // not a header, or a response: never answer one
	}
	reject = &dns.Msg{MsgHdr: dns.MsgHdr{
		Id:               binary.BigEndian.Uint16(raw),
		Response:         true,
		Opcode:           int(raw[2]>>3) & 0xf,
		RecursionDesired: raw[2]&1 != 0,
		Rcode:            dns.RcodeFormatError,
	}}
	switch {
	case reject.Opcode != dns.OpcodeQuery:
		reject.Rcode = dns.RcodeNotImplemented
		return nil, reject
	case binary.BigEndian.Uint16(raw[4:]) != 1:
		return nil, reject
	}
	req = new(dns.Msg)
	if err := req.Unpack(raw); err != nil || len(req.Question) != 1 || req.Question[0].Qclass != dns.ClassINET {
		return nil, reject
	}
	return req, nil
}

// answer returns the reply to req, from the zones or the upstreams
// (forwarding in the slots q).
func (r *Resolver) answer(ctx context.Context, req *dns.Msg, proto string, networks func() []string, q *quota) *dns.Msg {
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		m := reply(req)
		m.Rcode = dns.RcodeBadVers
		return m
	}
	var on []string
	if networks != nil {
		on = networks()
	}
	res := r.snap.Load().lookup(req.Question[0], on, r.cfg.TTL)
	if res.forward {
		return r.forward(ctx, req, proto, q)
	}
	r.stats.local.Add(1)
	m := reply(req)
	m.Authoritative = true
	m.Rcode = res.rcode
	m.Answer = res.answer
	return m
}

// reply returns the start of the resolver's own reply to req: RA set, and
// an EDNS0 record if req had one.
func reply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(req)
	m.RecursionAvailable = true
	if req.IsEdns0() != nil {
		m.SetEdns0(maxUDPSize, false)
	}
	return m
}

// sizeLimit is the most an answer to req over proto may hold: over UDP
// 512 bytes, or the size req offers in EDNS0 up to 4096; over TCP 65535.
func sizeLimit(req *dns.Msg, proto string) int {
	if proto == protoTCP {
		return dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		return min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
	}
	return dns.MinMsgSize
}

// pack packs m, which the resolver built and so always packs.
func pack(m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}
