package resolver

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Fixture zones: A (anet) and B (bnet). An asker on A alone must never see
// B's names.
var (
	zoneA = Zone{
		ID:      "A",
		Name:    "anet",
		Subnets: []netip.Prefix{pfx("10.0.0.0/24"), pfx("fd00:a::/64")},
		Endpoints: []Endpoint{
			{Name: "web", Aliases: []string{"www", "Shared"}, Addrs: addrs("10.0.0.2", "fd00:a::2", "10.0.0.2")},
			{Name: "db", Addrs: addrs("10.0.0.3")},
			{Aliases: []string{"anon"}, Addrs: addrs("10.0.0.4")},
			{Name: "my.app", Addrs: addrs("10.0.0.5")},
			{Name: "twin", Aliases: []string{"shared"}, Addrs: addrs("10.0.0.6")},
			{Name: "twin2", Aliases: []string{"shared"}, Addrs: addrs("10.0.0.6")},
			{Name: "noaddr"},
			{Name: "bad..name", Aliases: []string{strings.Repeat("x", 64)}, Addrs: addrs("10.0.0.7")},
		},
	}
	zoneB = Zone{
		ID:      "B",
		Name:    "bnet",
		Subnets: []netip.Prefix{pfx("10.1.0.0/24")},
		Endpoints: []Endpoint{
			{Name: "secret", Addrs: addrs("10.1.0.2")},
			{Name: "web", Aliases: []string{"shared"}, Addrs: addrs("10.1.0.3")},
		},
	}
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// on returns a networks function for the zone IDs ids.
func on(ids ...string) func() []string { return func() []string { return ids } }

// quietLogger drops everything below Error.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newResolver returns a Resolver forwarding to ups (none: nothing is
// forwarded) with zones A and B, closed at the end of the test.
func newResolver(t testing.TB, ups ...netip.AddrPort) *Resolver {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Upstreams, cfg.ResolvConf, cfg.Logger = ups, "", quietLogger()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.SetZone(zoneA)
	r.SetZone(zoneB)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// serveLoopback serves r for networks on fresh 127.0.0.1 sockets and
// returns their addresses.
func serveLoopback(t *testing.T, r *Resolver, networks func() []string) (inst *Instance, udp, tcp string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	inst = r.Serve(pc, ln, networks)
	t.Cleanup(func() { _ = inst.Close() })
	return inst, pc.LocalAddr().String(), ln.Addr().String()
}

// ask sends q to addr over proto with dns.Client.
func ask(t *testing.T, proto, addr string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	resp, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", proto, q.Question[0].Name, addr, err)
	}
	return resp
}

// question returns a query for name and type t.
func question(name string, t uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, t)
}

// rrStrings renders rrs as "TYPE data", without name, TTL and class.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		out = append(out, dns.TypeToString[h.Rrtype]+" "+strings.TrimPrefix(rr.String(), h.String()))
	}
	return out
}

// rawUDP sends b to addr and returns the answer, or nil if none came
// within wait.
func rawUDP(t *testing.T, addr string, b []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// upstream is a test DNS server on 127.0.0.1, UDP and TCP on one port.
type upstream struct {
	addr    netip.AddrPort
	servers []*dns.Server
}

// startUpstream serves h on 127.0.0.1, UDP and TCP on one port, until the
// end of the test.
func startUpstream(t *testing.T, h dns.HandlerFunc) netip.AddrPort {
	t.Helper()
	pc, ln := listenPair(t)
	u := &upstream{addr: netip.MustParseAddrPort(ln.Addr().String())}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		u.servers = append(u.servers, s)
	}
	t.Cleanup(func() {
		for _, s := range u.servers {
			_ = s.Shutdown()
		}
	})
	return u.addr
}

// listenPair binds UDP and TCP sockets on one 127.0.0.1 port.
func listenPair(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err == nil {
			return pc, ln
		}
		ln.Close()
	}
	t.Fatal("no port free for both UDP and TCP on 127.0.0.1")
	return nil, nil
}

// silentUpstream returns an address whose UDP socket never reads and
// whose TCP listener never accepts: a resolver that never answers.
func silentUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, ln := listenPair(t)
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// viaHandler answers every query with one TXT record "via PROTO".
func viaHandler(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg).SetReply(q)
	m.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET},
		Txt: []string{"via " + w.RemoteAddr().Network()},
	}}
	_ = w.WriteMsg(m)
}

// rcodeHandler answers every query with rcode.
func rcodeHandler(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		_ = w.WriteMsg(new(dns.Msg).SetRcode(q, rcode))
	}
}

// mustPack packs m or fails the test.
func mustPack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %v: %v", m, err)
	}
	return b
}

// describe is a short form of a reply for failure messages.
func describe(m *dns.Msg) string {
	if m == nil {
		return "no reply"
	}
	return fmt.Sprintf("%s %v", dns.RcodeToString[m.Rcode], rrStrings(m.Answer))
}
