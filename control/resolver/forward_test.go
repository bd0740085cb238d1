package resolver

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// budget is the hard limit on a client's wait: it must have its answer
// within 2 s.
const budget = 2 * time.Second

// timeout is the resolver's budget for a forwarded query.
var timeout = DefaultConfig().Timeout

// TestForwardOrder checks which upstream's answer the client gets: the
// first that answers with other than SERVFAIL or REFUSED, over the
// client's transport, within the budget.
func TestForwardOrder(t *testing.T) {
	good := startUpstream(t, viaHandler)
	servfail := startUpstream(t, rcodeHandler(dns.RcodeServerFailure))
	refused := startUpstream(t, rcodeHandler(dns.RcodeRefused))
	nx := startUpstream(t, rcodeHandler(dns.RcodeNameError))
	silent := silentUpstream(t)
	tests := []struct {
		name    string
		ups     []netip.AddrPort
		rcode   int
		via     bool          // the answer is viaHandler's
		atLeast time.Duration // the silent ones' share of the budget
	}{
		{name: "first answers", ups: []netip.AddrPort{good, silent}, via: true},
		{name: "SERVFAIL and REFUSED skipped", ups: []netip.AddrPort{servfail, refused, good}, via: true},
		{name: "NXDOMAIN returned as is", ups: []netip.AddrPort{nx, good}, rcode: dns.RcodeNameError},
		// A silent upstream costs its share of the budget: half of it with
		// two upstreams, a third then half the rest with three (less 10%
		// for timer slack).
		{name: "silent then good", ups: []netip.AddrPort{silent, good}, via: true, atLeast: timeout * 45 / 100},
		{name: "two silent then good", ups: []netip.AddrPort{silent, silent, good}, via: true, atLeast: timeout * 60 / 100},
		{name: "only three used", ups: []netip.AddrPort{servfail, servfail, servfail, good}, rcode: dns.RcodeServerFailure},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				r := newResolver(t, tc.ups...)
				_, udp, tcp := serveLoopback(t, r, on("A"))
				addr := map[string]string{"udp": udp, "tcp": tcp}[proto]
				q := question("Example.COM.", dns.TypeA)
				start := time.Now()
				resp := ask(t, proto, addr, q)
				elapsed := time.Since(start)
				checkReply(t, q, resp)
				if elapsed >= budget || elapsed < tc.atLeast {
					t.Errorf("answered in %v; want within [%v, %v)", elapsed, tc.atLeast, budget)
				}
				want := []string(nil)
				if tc.via {
					want = []string{`TXT "via ` + proto + `"`}
				}
				if got := rrStrings(resp.Answer); resp.Rcode != tc.rcode || !slices.Equal(got, want) {
					t.Errorf("got %s; want %s %q", describe(resp), dns.RcodeToString[tc.rcode], want)
				}
			})
		}
	}
}

// TestForwardSilent checks that when no upstream answers the client gets
// SERVFAIL within 2 s, having waited most of the budget.
func TestForwardSilent(t *testing.T) {
	for _, n := range []int{1, 3} {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(proto+"/"+strings.Repeat("silent,", n), func(t *testing.T) {
				var ups []netip.AddrPort
				for range n {
					ups = append(ups, silentUpstream(t))
				}
				r := newResolver(t, ups...)
				_, udp, tcp := serveLoopback(t, r, on("A"))
				addr := map[string]string{"udp": udp, "tcp": tcp}[proto]
				start := time.Now()
				resp := ask(t, proto, addr, question("example.com.", dns.TypeA))
				elapsed := time.Since(start)
				if resp.Rcode != dns.RcodeServerFailure {
					t.Errorf("got %s; want SERVFAIL", describe(resp))
				}
				if elapsed >= budget || elapsed < time.Second {
					t.Errorf("SERVFAIL after %v; want within [1s, %v)", elapsed, budget)
				}
				if got := r.Stats().Failed; got != 1 {
					t.Errorf("Failed: got %d; want 1", got)
				}
			})
		}
	}
}

// TestForwardNone checks that with no upstream a name to forward gets
// SERVFAIL at once.
func TestForwardNone(t *testing.T) {
	r := newResolver(t)
	_, udp, _ := serveLoopback(t, r, on("A"))
	start := time.Now()
	resp := ask(t, "udp", udp, question("example.com.", dns.TypeA))
	if d := time.Since(start); resp.Rcode != dns.RcodeServerFailure || d > 200*time.Millisecond {
		t.Errorf("got %s after %v; want SERVFAIL within 200ms", describe(resp), d)
	}
}

// TestForwardOverload checks that past maxForwards in flight from one
// container a name to forward gets SERVFAIL at once.
func TestForwardOverload(t *testing.T) {
	r := newResolver(t, silentUpstream(t))
	q := r.newQuota()
	for range maxForwards {
		if q.take() == noSlot {
			t.Fatal("take: got noSlot before maxForwards were taken")
		}
	}
	start := time.Now()
	raw := r.respond(context.Background(), mustPack(t, question("example.com.", dns.TypeA)), protoUDP, on("A"), q)
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); resp.Rcode != dns.RcodeServerFailure || d > 100*time.Millisecond {
		t.Errorf("got %s after %v; want SERVFAIL within 100ms", describe(resp), d)
	}
	if got := r.Stats().Overloaded; got != 1 {
		t.Errorf("Overloaded: got %d; want 1", got)
	}
}

// TestForwardTruncates checks that an upstream answer too big for the
// client's UDP size is truncated with TC set, and whole over TCP.
func TestForwardTruncates(t *testing.T) {
	big := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		for i := range 100 {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).AsSlice(),
			})
		}
		_ = w.WriteMsg(m) // 1.6 kB, whatever the client offered
	})
	r := newResolver(t, big)
	_, udp, tcp := serveLoopback(t, r, on("A"))
	raw := rawUDP(t, udp, mustPack(t, question("example.com.", dns.TypeA)), 3*time.Second)
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) > dns.MinMsgSize || !resp.Truncated || len(resp.Answer) == 0 {
		t.Errorf("UDP: got %d bytes TC=%v %d answers; want at most 512 bytes, TC, some answers", len(raw), resp.Truncated, len(resp.Answer))
	}
	if resp := ask(t, "tcp", tcp, question("example.com.", dns.TypeA)); len(resp.Answer) != 100 || resp.Truncated {
		t.Errorf("TCP: got %d answers TC=%v; want 100 TC=false", len(resp.Answer), resp.Truncated)
	}
}

// TestForwardKeepsClientID checks that the upstream sees a fresh ID and the
// client gets its own back, with its question as spelled, even when the
// upstream spells it differently.
func TestForwardKeepsClientID(t *testing.T) {
	seen := make(chan uint16, 1)
	up := startUpstream(t, func(w dns.ResponseWriter, q *dns.Msg) {
		seen <- q.Id
		m := new(dns.Msg).SetReply(q)
		m.Question[0].Name = strings.ToLower(m.Question[0].Name)
		_ = w.WriteMsg(m)
	})
	r := newResolver(t, up)
	_, udp, _ := serveLoopback(t, r, on("A"))
	q := question("ExAmPlE.CoM.", dns.TypeA)
	q.Id = 4242
	resp := ask(t, "udp", udp, q)
	checkReply(t, q, resp)
	if id := <-seen; id == q.Id {
		t.Logf("upstream saw the client's ID by chance (1 in 65536)")
	}
}
