package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// TestRespond pins message handling on the pure query path: rcodes for
// bad queries, EDNS0, and the header bits of replies.
func TestRespond(t *testing.T) {
	r := newResolver(t)
	tests := []struct {
		name   string
		msg    func() *dns.Msg
		proto  string
		rcode  int
		aa     bool
		opt    bool // an OPT record in the reply
		noRD   bool // the query had RD clear
		answer int
	}{
		{name: "plain", msg: func() *dns.Msg { return question("web.", dns.TypeA) }, rcode: dns.RcodeSuccess, aa: true, answer: 1},
		{name: "plain over TCP", proto: protoTCP, msg: func() *dns.Msg { return question("web.", dns.TypeA) }, rcode: dns.RcodeSuccess, aa: true, answer: 1},
		{name: "RD clear echoed", noRD: true, msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.RecursionDesired = false
			return m
		}, rcode: dns.RcodeSuccess, aa: true, answer: 1},
		{name: "EDNS0 echoed", msg: func() *dns.Msg { return question("web.", dns.TypeA).SetEdns0(1232, true) }, rcode: dns.RcodeSuccess, aa: true, opt: true, answer: 1},
		{name: "EDNS0 on NXDOMAIN", msg: func() *dns.Msg { return question("nope.", dns.TypeA).SetEdns0(1232, false) }, rcode: dns.RcodeNameError, aa: true, opt: true},
		{name: "EDNS1 is BADVERS", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA).SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, rcode: dns.RcodeBadVers, opt: true},
		{name: "no upstream is SERVFAIL", msg: func() *dns.Msg { return question("example.com.", dns.TypeA) }, rcode: dns.RcodeServerFailure},
		{name: "SERVFAIL echoes EDNS0", msg: func() *dns.Msg { return question("example.com.", dns.TypeA).SetEdns0(1232, false) }, rcode: dns.RcodeServerFailure, opt: true},
		{name: "class CHAOS", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}, rcode: dns.RcodeFormatError},
		{name: "class ANY", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Question[0].Qclass = dns.ClassANY
			return m
		}, rcode: dns.RcodeFormatError},
		{name: "two questions", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, rcode: dns.RcodeFormatError},
		{name: "no question", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Question = nil
			return m
		}, rcode: dns.RcodeFormatError},
		{name: "opcode NOTIFY", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Opcode = dns.OpcodeNotify
			return m
		}, rcode: dns.RcodeNotImplemented},
		{name: "opcode STATUS", msg: func() *dns.Msg {
			m := question("web.", dns.TypeA)
			m.Opcode = dns.OpcodeStatus
			return m
		}, rcode: dns.RcodeNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.msg()
			proto := tc.proto
			if proto == "" {
				proto = protoUDP
			}
			raw := r.respond(context.Background(), mustPack(t, q), proto, on("A"), r.newQuota())
			resp := new(dns.Msg)
			if err := resp.Unpack(raw); err != nil {
				t.Fatalf("unpack reply: %v", err)
			}
			if resp.Id != q.Id || !resp.Response || resp.Opcode != q.Opcode || resp.RecursionDesired == tc.noRD {
				t.Errorf("header: got id %d QR=%v opcode %d RD=%v; want id %d QR opcode %d RD=%v",
					resp.Id, resp.Response, resp.Opcode, resp.RecursionDesired, q.Id, q.Opcode, !tc.noRD)
			}
			if resp.Rcode != tc.rcode || resp.Authoritative != tc.aa || len(resp.Answer) != tc.answer {
				t.Errorf("got %s AA=%v %d answers; want %s AA=%v %d answers",
					dns.RcodeToString[resp.Rcode], resp.Authoritative, len(resp.Answer), dns.RcodeToString[tc.rcode], tc.aa, tc.answer)
			}
			if opt := resp.IsEdns0(); (opt != nil) != tc.opt || (opt != nil && (opt.UDPSize() != maxUDPSize || opt.Version() != 0)) {
				t.Errorf("OPT: got %v; want present=%v, size %d, version 0", opt, tc.opt, maxUDPSize)
			}
		})
	}
}

// TestRespondDrops checks what gets no reply at all.
func TestRespondDrops(t *testing.T) {
	r := newResolver(t)
	good := mustPack(t, question("web.", dns.TypeA))
	response := append([]byte(nil), good...)
	response[2] |= 0x80
	tests := []struct {
		name string
		pkt  []byte
	}{
		{name: "empty", pkt: nil},
		{name: "short header", pkt: good[:headerLen-1]},
		{name: "a response", pkt: response},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.Stats().Malformed
			if got := r.respond(context.Background(), tc.pkt, protoUDP, on("A"), r.newQuota()); got != nil {
				t.Errorf("got %d bytes; want nil", len(got))
			}
			if got := r.Stats().Malformed; got != before+1 {
				t.Errorf("Malformed: got %d; want %d", got, before+1)
			}
		})
	}
}

// TestStats checks the counts of local, failed and malformed queries.
func TestStats(t *testing.T) {
	r := newResolver(t)
	ctx := context.Background()
	for _, name := range []string{"web.", "nope.", "example.com."} {
		r.respond(ctx, mustPack(t, question(name, dns.TypeA)), protoUDP, on("A"), r.newQuota())
	}
	r.respond(ctx, []byte{1}, protoUDP, on("A"), r.newQuota())
	want := Stats{Local: 2, Failed: 1, Malformed: 1}
	if got := r.Stats(); got != want {
		t.Errorf("got %+v; want %+v", got, want)
	}
}
