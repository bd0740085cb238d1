package resolver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/weftnet/weft/internal/poll"
	"go.uber.org/goleak"
)

// TestInstanceAnswers runs the answering rules through a real Instance
// over UDP and TCP; forwarded names reach the upstream over the client's
// transport.
func TestInstanceAnswers(t *testing.T) {
	up := startUpstream(t, viaHandler)
	r := newResolver(t, up)
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range answerCases {
			if strings.Contains(tc.qname, "..") {
				continue // cannot be asked: an empty label does not pack
			}
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				_, udp, tcp := serveLoopback(t, r, on(tc.on...))
				addr := map[string]string{"udp": udp, "tcp": tcp}[proto]
				q := question(tc.qname, tc.qtype)
				resp := ask(t, proto, addr, q)
				checkReply(t, q, resp)
				if tc.forward {
					want := []string{`TXT "via ` + proto + `"`}
					if got := rrStrings(resp.Answer); !slices.Equal(got, want) || resp.Authoritative {
						t.Errorf("got %s AA=%v; want forwarded %q", describe(resp), resp.Authoritative, want)
					}
					return
				}
				if resp.Rcode != tc.rcode || !resp.Authoritative {
					t.Errorf("got %s AA=%v; want %s AA=true", dns.RcodeToString[resp.Rcode], resp.Authoritative, dns.RcodeToString[tc.rcode])
				}
				if got := rrStrings(resp.Answer); !slices.Equal(got, tc.answers) {
					t.Errorf("answers: got %q; want %q", got, tc.answers)
				}
			})
		}
	}
}

// checkReply checks what every reply to q must have: its ID and
// question, QR and RA, and RD echoed.
func checkReply(t *testing.T, q, resp *dns.Msg) {
	t.Helper()
	if resp.Id != q.Id || !resp.Response || !resp.RecursionAvailable || resp.RecursionDesired != q.RecursionDesired {
		t.Errorf("header: got id %d QR=%v RA=%v RD=%v; want id %d QR RA RD=%v",
			resp.Id, resp.Response, resp.RecursionAvailable, resp.RecursionDesired, q.Id, q.RecursionDesired)
	}
	if len(resp.Question) != 1 || resp.Question[0] != q.Question[0] {
		t.Errorf("question: got %v; want %v", resp.Question, q.Question)
	}
}

// TestAnswerKeepsSpelling checks that answers name the owner as the client
// spelled it, so that clients using 0x20 case randomization accept them.
func TestAnswerKeepsSpelling(t *testing.T) {
	r := newResolver(t)
	_, udp, _ := serveLoopback(t, r, on("A"))
	resp := ask(t, "udp", udp, question("wEb.AnEt.", dns.TypeA))
	if len(resp.Answer) != 1 || resp.Answer[0].Header().Name != "wEb.AnEt." {
		t.Fatalf("got %v; want one A record named wEb.AnEt.", resp.Answer)
	}
}

// TestNetworksPerQuery checks that the asker's networks are asked per
// query: attaching and detaching take effect at once.
func TestNetworksPerQuery(t *testing.T) {
	r := newResolver(t)
	var attached atomic.Pointer[[]string]
	attached.Store(&[]string{"A"})
	_, udp, _ := serveLoopback(t, r, func() []string { return *attached.Load() })
	if resp := ask(t, "udp", udp, question("secret.", dns.TypeA)); resp.Rcode != dns.RcodeNameError {
		t.Fatalf("before attach: got %s; want NXDOMAIN", describe(resp))
	}
	attached.Store(&[]string{"A", "B"})
	if resp := ask(t, "udp", udp, question("secret.", dns.TypeA)); len(resp.Answer) != 1 {
		t.Fatalf("after attach: got %s; want one answer", describe(resp))
	}
}

// bigZone has 60 endpoints sharing the alias "web".
func bigZone() Zone {
	z := Zone{ID: "big", Name: "bignet"}
	for i := range 60 {
		z.Endpoints = append(z.Endpoints, Endpoint{
			Name:    fmt.Sprintf("c%d", i),
			Aliases: []string{"web"},
			Addrs:   addrs(fmt.Sprintf("10.2.0.%d", i+1)),
		})
	}
	return z
}

// TestTruncation checks that UDP answers fit 512 bytes or the client's
// EDNS0 size, with TC set when records were left out, and that TCP gets
// them all.
func TestTruncation(t *testing.T) {
	r := newResolver(t)
	r.SetZone(bigZone())
	_, udp, tcp := serveLoopback(t, r, on("big"))
	tests := []struct {
		name    string
		edns    uint16 // 0: none
		limit   int
		wantAll bool
	}{
		{name: "no EDNS0", limit: 512},
		{name: "EDNS0 below 512", edns: 100, limit: 512},
		{name: "EDNS0 600", edns: 600, limit: 600},
		{name: "EDNS0 4096", edns: 4096, limit: 4096, wantAll: true},
		{name: "EDNS0 above 4096", edns: 65000, limit: 4096, wantAll: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := question("web.", dns.TypeA)
			if tc.edns != 0 {
				q.SetEdns0(tc.edns, false)
			}
			raw := rawUDP(t, udp, mustPack(t, q), 3*time.Second)
			resp := new(dns.Msg)
			if err := resp.Unpack(raw); err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if len(raw) > tc.limit {
				t.Errorf("size: got %d; want at most %d", len(raw), tc.limit)
			}
			if all := len(resp.Answer) == 60; all != tc.wantAll || resp.Truncated == tc.wantAll {
				t.Errorf("got %d answers TC=%v; want all=%v TC=%v", len(resp.Answer), resp.Truncated, tc.wantAll, !tc.wantAll)
			}
			if (resp.IsEdns0() != nil) != (tc.edns != 0) {
				t.Errorf("EDNS0 echoed: got %v; want %v", resp.IsEdns0() != nil, tc.edns != 0)
			}
		})
	}
	t.Run("tcp", func(t *testing.T) {
		resp := ask(t, "tcp", tcp, question("web.", dns.TypeA))
		if len(resp.Answer) != 60 || resp.Truncated {
			t.Errorf("got %d answers TC=%v; want 60 TC=false", len(resp.Answer), resp.Truncated)
		}
	})
}

// TestMalformedUDP sends garbage to a running Instance and checks that it
// answers FORMERR when the header parses, nothing otherwise, and always
// the next good query.
func TestMalformedUDP(t *testing.T) {
	r := newResolver(t)
	_, udp, _ := serveLoopback(t, r, on("A"))
	for _, tc := range malformed(t) {
		t.Run(tc.name, func(t *testing.T) {
			raw := rawUDP(t, udp, tc.pkt, tc.wait())
			if tc.rcode < 0 {
				if raw != nil {
					t.Errorf("got %d bytes; want no reply", len(raw))
				}
			} else {
				checkRawReply(t, tc.pkt, raw, tc.rcode)
			}
			if resp := ask(t, "udp", udp, question("web.", dns.TypeA)); len(resp.Answer) != 1 {
				t.Fatalf("next good query: got %s; want one answer", describe(resp))
			}
		})
	}
}

// TestMalformedTCP does the same over TCP, where a frame that is not a
// query ends its connection.
func TestMalformedTCP(t *testing.T) {
	r := newResolver(t)
	_, _, tcp := serveLoopback(t, r, on("A"))
	for _, tc := range malformed(t) {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", tcp)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			frame := binary.BigEndian.AppendUint16(nil, uint16(len(tc.pkt)))
			if _, err := c.Write(append(frame, tc.pkt...)); err != nil {
				t.Fatal(err)
			}
			raw, err := readFrame(c)
			if tc.rcode < 0 {
				if err == nil {
					t.Errorf("got %d bytes; want the connection closed", len(raw))
				}
			} else {
				checkRawReply(t, tc.pkt, raw, tc.rcode)
			}
			if resp := ask(t, "tcp", tcp, question("web.", dns.TypeA)); len(resp.Answer) != 1 {
				t.Fatalf("next good query: got %s; want one answer", describe(resp))
			}
		})
	}
}

// malformedCase is a packet that is not a good query; rcode is the
// reply's, or -1 for none.
type malformedCase struct {
	name  string
	pkt   []byte
	rcode int
}

// wait is how long to wait for a reply: long for one that must come.
func (c malformedCase) wait() time.Duration {
	if c.rcode < 0 {
		return 200 * time.Millisecond
	}
	return 3 * time.Second
}

// malformed returns the garbage TestMalformedUDP and TestMalformedTCP send.
func malformed(t *testing.T) []malformedCase {
	good := mustPack(t, question("web.", dns.TypeA))
	hdr := func(qd uint16) []byte { // a query header with qd questions
		h := slices.Clone(good[:headerLen])
		binary.BigEndian.PutUint16(h[4:], qd)
		return h
	}
	manyLabels := hdr(1)
	for range 200 {
		manyLabels = append(manyLabels, 1, 'a')
	}
	manyLabels = append(manyLabels, 0, 0, 1, 0, 1)
	loop := append(hdr(1), 0xc0, headerLen, 0, 1, 0, 1) // a name pointing at itself
	response := slices.Clone(good)
	response[2] |= 0x80
	update := slices.Clone(good)
	update[2] = update[2]&^0x78 | dns.OpcodeUpdate<<3
	chaos := mustPack(t, &dns.Msg{MsgHdr: dns.MsgHdr{Id: 7}, Question: []dns.Question{{Name: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}}})
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []malformedCase{
		{name: "empty", pkt: nil, rcode: -1},
		{name: "truncated header", pkt: good[:5], rcode: -1},
		{name: "response", pkt: response, rcode: -1},
		{name: "header only", pkt: hdr(1), rcode: dns.RcodeFormatError},
		{name: "no question", pkt: hdr(0), rcode: dns.RcodeFormatError},
		{name: "65535 questions", pkt: append(hdr(65535), good[headerLen:]...), rcode: dns.RcodeFormatError},
		{name: "huge label count", pkt: manyLabels, rcode: dns.RcodeFormatError},
		{name: "pointer loop", pkt: loop, rcode: dns.RcodeFormatError},
		{name: "truncated question", pkt: good[:len(good)-2], rcode: dns.RcodeFormatError},
		{name: "class CHAOS", pkt: chaos, rcode: dns.RcodeFormatError},
		{name: "opcode UPDATE", pkt: update, rcode: dns.RcodeNotImplemented},
	}
	for i := range 20 {
		pkt := make([]byte, rng.IntN(600)+headerLen)
		for j := range pkt {
			pkt[j] = byte(rng.Uint32())
		}
		pkt[2] &^= 0x80 | 0x78 // a query, opcode QUERY: the header parses, so FORMERR
		binary.BigEndian.PutUint16(pkt[4:], 1)
		cases = append(cases, malformedCase{name: fmt.Sprintf("random %d", i), pkt: pkt, rcode: dns.RcodeFormatError})
	}
	return cases
}

// checkRawReply checks the packed error reply raw to pkt.
func checkRawReply(t *testing.T, pkt, raw []byte, rcode int) {
	t.Helper()
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		t.Fatalf("reply (%d bytes): %v", len(raw), err)
	}
	if id := binary.BigEndian.Uint16(pkt); resp.Id != id || resp.Rcode != rcode || !resp.Response {
		t.Errorf("got id %d %s QR=%v; want id %d %s QR", resp.Id, dns.RcodeToString[resp.Rcode], resp.Response, id, dns.RcodeToString[rcode])
	}
}

// TestCloseEndsEverything closes an Instance with a forward in flight and
// an idle TCP connection, and checks that Close is quick, closes the
// sockets and leaves no goroutine behind.
func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	silent := silentUpstream(t)
	cfg := DefaultConfig()
	cfg.Upstreams, cfg.Logger = []netip.AddrPort{silent}, quietLogger()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	inst := r.Serve(pc, ln, on())
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		c := &dns.Client{Net: "udp", Timeout: time.Second}
		_, _, _ = c.Exchange(question("example.com.", dns.TypeA), pc.LocalAddr().String())
	}()
	poll.Until(t, 3*time.Second, "the forward to be in flight", func() bool { return len(inst.quota.own) == 1 })
	start := time.Now()
	if err := inst.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Close took %v; want under 500ms", d)
	}
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); err == nil {
		t.Error("UDP socket still open after Close")
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("TCP listener still open after Close")
	}
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection read: got %v; want EOF", err)
	}
	if err := inst.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	<-asked
	_ = r.Close()
}

// TestResolverClose checks that Resolver.Close closes every Instance, and
// that Serve after it returns one already closed.
func TestResolverClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	r := newResolver(t)
	var pcs []net.PacketConn
	for range 3 {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		pcs = append(pcs, pc)
		r.Serve(pc, nil, on("A"))
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	r.Serve(pc, nil, on("A"))
	for i, pc := range append(pcs, pc) {
		if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); err == nil {
			t.Errorf("socket %d still open after Close", i)
		}
	}
	if n := len(r.instances); n != 0 {
		t.Errorf("instances tracked: got %d; want 0", n)
	}
}
