//go:build linux

package nstest

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// UpstreamDNS is the address of the lab's stand-in for a host's resolvers:
// every lab host's resolv.conf names it. Nothing answers there unless a test
// starts StartUpstreamDNS, so by default forwarded names time out inside the
// lab instead of reaching a real resolver.
var UpstreamDNS = netip.MustParseAddr("198.18.255.53")

// UpstreamDomain is the zone the lab's upstream answers: every name under it
// has the address UpstreamAnswer; other names get NXDOMAIN.
const UpstreamDomain = "weft.test."

// UpstreamAnswer is the address the lab's upstream gives every name under
// UpstreamDomain.
var UpstreamAnswer = netip.MustParseAddr("198.19.255.1")

// Upstream is the lab's upstream DNS server, served from the test process
// through sockets in its own lab host.
type Upstream struct {
	servers []*dns.Server
	queries atomic.Int64
	silent  atomic.Bool
}

// StartUpstreamDNS makes the lab host at UpstreamDNS and serves DNS there,
// UDP and TCP, until Close.
func (l *Lab) StartUpstreamDNS() (*Upstream, error) {
	h, err := l.Host("dns", UpstreamDNS)
	if err != nil {
		return nil, err
	}
	var pc net.PacketConn
	var ln net.Listener
	addr := netip.AddrPortFrom(UpstreamDNS, 53).String()
	err = Do(h.NS, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", addr); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	u := &Upstream{}
	u.servers = []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}}
	for _, s := range u.servers {
		go func() { _ = s.ActivateAndServe() }()
	}
	return u, nil
}

// ServeDNS answers A queries under UpstreamDomain.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	u.queries.Add(1)
	if u.silent.Load() {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 || !strings.HasSuffix(strings.ToLower(req.Question[0].Name), "."+UpstreamDomain) {
		m.Rcode = dns.RcodeNameError
	} else if q := req.Question[0]; q.Qtype == dns.TypeA {
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   UpstreamAnswer.AsSlice(),
		})
	}
	_ = w.WriteMsg(m)
}

// SetSilent makes the upstream read queries and answer none, as a resolver
// that hangs.
func (u *Upstream) SetSilent(silent bool) { u.silent.Store(silent) }

// Queries returns how many queries the upstream received.
func (u *Upstream) Queries() int64 { return u.queries.Load() }

// Close stops serving; queries to UpstreamDNS then go unanswered.
func (u *Upstream) Close() error {
	var errs []error
	for _, s := range u.servers {
		errs = append(errs, s.Shutdown())
	}
	return errors.Join(errs...)
}
