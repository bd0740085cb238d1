// Package dockerdns answers Docker containers' DNS queries for the names
// of the containers on the weft networks they are on, on every host.
//
// Docker's embedded resolver answers a container only with the names of
// its own engine's containers, and forwards the rest, from the container's
// network namespace, to the servers of daemon.json "dns" in order (see
// docs/docker.md). Named first there, this server gets those queries with
// the container's address as their source: it answers the names of the
// weft networks that container is on, and refuses every other query, and
// every query from an address that is not a local container's, so that
// Docker asks the next server.
//
// Log lines use the keys "addr" and "err".
package dockerdns

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Port is the port Docker sends its forwarded queries to: daemon.json
// "dns" takes addresses only.
const Port = 53

// Zones answers from weft's zones (see resolver.Resolver.Known): nil when
// the asker's networks have no such name.
type Zones interface {
	Known(req *dns.Msg, on []string) *dns.Msg
}

// Server is weftd's DNS server for Docker containers. Its methods are safe
// for concurrent use.
type Server struct {
	zones Zones
	log   *slog.Logger

	mu     sync.RWMutex
	askers map[netip.Addr][]string // a local container's address → the IDs of its weft networks

	udp, tcp *dns.Server
}

// New returns a server answering from zones; it refuses everyone until
// SetAskers says who asks.
func New(zones Zones, log *slog.Logger) *Server {
	return &Server{zones: zones, log: log, askers: map[netip.Addr][]string{}}
}

// SetAskers replaces the local containers' addresses, each with the IDs
// of every weft network its container is on.
func (s *Server) SetAskers(askers map[netip.Addr][]string) {
	m := make(map[netip.Addr][]string, len(askers))
	for a, nets := range askers {
		m[a.Unmap()] = append([]string(nil), nets...)
	}
	s.mu.Lock()
	s.askers = m
	s.mu.Unlock()
}

// networks returns the networks of the container that asks from addr, or
// false if no local container does.
func (s *Server) networks(addr net.Addr) ([]string, bool) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	nets, ok := s.askers[ap.Addr().Unmap()]
	return nets, ok
}

// ServeDNS answers one query (dns.Handler).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	var m *dns.Msg
	if nets, ok := s.networks(w.RemoteAddr()); ok && req.Opcode == dns.OpcodeQuery {
		m = s.zones.Known(req, nets)
	}
	if m == nil {
		m = new(dns.Msg).SetRcode(req, dns.RcodeRefused)
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		m.Truncate(udpSize(req))
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("docker dns: reply not sent", "addr", w.RemoteAddr(), "err", err)
	}
}

// udpSize is the largest reply req's sender takes over UDP.
func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

// Listen serves UDP and TCP on addr until Close. It fails if either
// cannot be listened on (the address must be one of this host's).
func (s *Server) Listen(addr netip.AddrPort) error {
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		return fmt.Errorf("docker dns: %w (the address must be one of this host's)", err)
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("docker dns: %w (the address must be one of this host's)", err)
	}
	s.mu.Lock()
	s.udp = &dns.Server{PacketConn: pc, Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	s.tcp = &dns.Server{Listener: ln, Handler: s, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 16}
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{udp, tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.log.Warn("docker dns stopped", "addr", addr, "err", err)
			}
		}()
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			s.Close()
			return fmt.Errorf("docker dns: %s did not start serving within 5s", addr)
		}
	}
	s.log.Info("docker dns serving", "addr", addr)
	return nil
}

// Close stops serving.
func (s *Server) Close() {
	s.mu.Lock()
	udp, tcp := s.udp, s.tcp
	s.udp, s.tcp = nil, nil
	s.mu.Unlock()
	for _, srv := range []*dns.Server{udp, tcp} {
		if srv != nil {
			_ = srv.Shutdown()
		}
	}
}
