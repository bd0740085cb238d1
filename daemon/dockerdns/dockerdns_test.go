package dockerdns

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeZones knows name "alpine2." on network "n1" only.
type fakeZones struct{}

func (fakeZones) Known(req *dns.Msg, on []string) *dns.Msg {
	for _, n := range on {
		if n == "n1" && req.Question[0].Name == "alpine2." {
			m := new(dns.Msg).SetReply(req)
			m.Authoritative = true
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "alpine2.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: []byte{198, 19, 1, 3}}}
			return m
		}
	}
	return nil
}

// The server answers a local container's names of its networks, over UDP
// and TCP, and refuses everything else: other names, and askers that are
// not local containers, or whose containers share no network.
func TestServerScopesBySource(t *testing.T) {
	s := New(fakeZones{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	addr := listenBoth(t, s)
	ask := func(proto, name string) int {
		t.Helper()
		c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
		if err != nil {
			t.Fatalf("%s %s: %v", proto, name, err)
		}
		if r.Rcode == dns.RcodeSuccess && len(r.Answer) != 1 {
			t.Fatalf("%s %s: NOERROR with %d answers", proto, name, len(r.Answer))
		}
		return r.Rcode
	}
	for _, proto := range []string{"udp", "tcp"} {
		if got := ask(proto, "alpine2."); got != dns.RcodeRefused {
			t.Errorf("%s: before the asker is known: rcode %s; want REFUSED", proto, dns.RcodeToString[got])
		}
	}
	s.SetAskers(map[netip.Addr][]string{netip.MustParseAddr("127.0.0.1"): {"n1"}})
	for _, proto := range []string{"udp", "tcp"} {
		if got := ask(proto, "alpine2."); got != dns.RcodeSuccess {
			t.Errorf("%s: a container on n1: rcode %s; want NOERROR", proto, dns.RcodeToString[got])
		}
		if got := ask(proto, "example.com."); got != dns.RcodeRefused {
			t.Errorf("%s: a name not weft's: rcode %s; want REFUSED", proto, dns.RcodeToString[got])
		}
	}
	s.SetAskers(map[netip.Addr][]string{netip.MustParseAddr("127.0.0.1"): {"n2"}})
	if got := ask("udp", "alpine2."); got != dns.RcodeRefused {
		t.Errorf("a container on n2 only: rcode %s; want REFUSED", dns.RcodeToString[got])
	}
}

// listenBoth makes s serve UDP and TCP on one free loopback port.
func listenBoth(t *testing.T, s *Server) string {
	t.Helper()
	for port := 20053; port < 20153; port++ {
		ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
		if err := s.Listen(ap); err == nil {
			t.Cleanup(s.Close)
			return ap.String()
		}
	}
	t.Fatal("no free loopback port in 20053-20152 for both UDP and TCP")
	return ""
}

func TestCheckDaemonJSON(t *testing.T) {
	addr := netip.MustParseAddr("198.18.0.1")
	dir := t.TempDir()
	for _, tt := range []struct{ name, body, err string }{
		{"first then the host's", `{"dns": ["198.18.0.1", "9.9.9.9"]}`, ""},
		{"missing", "", "no such file"},
		{"no dns", `{"debug": true}`, `has no "dns"`},
		{"another first", `{"dns": ["9.9.9.9", "198.18.0.1"]}`, `"dns" starts with "9.9.9.9"`},
		{"alone", `{"dns": ["198.18.0.1"]}`, "add this host's usual resolvers"},
		{"not JSON", `{dns`, "invalid character"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
		if tt.body != "" {
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		err := CheckDaemonJSON(path, addr)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v; want one containing %q", tt.name, err, tt.err)
		}
	}
}
