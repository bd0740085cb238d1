//go:build linux

package e2e

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// queryLog is a DNS server that answers every A query with
// nstest.UpstreamAnswer and keeps each query's name and source address.
type queryLog struct {
	mu      sync.Mutex
	queries []string // "NAME from ADDR"
}

func (q *queryLog) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	for _, question := range req.Question {
		src, _ := netip.ParseAddrPort(w.RemoteAddr().String())
		q.mu.Lock()
		q.queries = append(q.queries, question.Name+" from "+src.Addr().String())
		q.mu.Unlock()
		if question.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
				A:   nstest.UpstreamAnswer.AsSlice(),
			})
		}
	}
	_ = w.WriteMsg(m)
}

// startQueryLog serves a queryLog on addr:53 inside ns until the test ends.
func startQueryLog(t *testing.T, ns string, addr netip.Addr) *queryLog {
	t.Helper()
	log := &queryLog{}
	var pc net.PacketConn
	if err := nstest.Do(ns, func() (err error) {
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(addr, 53).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: log}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return log
}

// sources returns the source addresses of the queries for name.
func (q *queryLog) sources(name string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var srcs []string
	for _, s := range q.queries {
		if n, src, _ := strings.Cut(s, " from "); n == name {
			srcs = append(srcs, src)
		}
	}
	return srcs
}

// What Docker's embedded resolver does with a name it does not know (see
// docs/docker.md): a container on a user-defined network asks 127.0.0.11;
// names of containers on its own networks are answered there and go no
// further; any other name, also that of a container on a network it does
// not share, is forwarded to the servers of daemon.json's "dns", from the
// container's own network namespace and with the container's address as
// the source, and the answer comes back to the container.
func TestDockerResolverForwardsFromContainer(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdockdns")
	upstream := underlay(1) // the host's own address: a server in its namespace
	d := dockerHost(t, lab, "h1", 1, nstest.DockerOptions{DaemonJSON: map[string]any{"dns": []string{upstream.String()}}})
	log := startQueryLog(t, d.NS, upstream)
	if err := d.ImportBusybox("busybox"); err != nil {
		t.Fatal(err)
	}
	docker(t, d, "network", "create", "--subnet", "198.18.210.0/24", "net1")
	docker(t, d, "network", "create", "--subnet", "198.18.211.0/24", "net2")
	run := []string{"run", "-dit", "--stop-timeout", "1"}
	docker(t, d, append(run, "--name", "c1", "--network", "net1", "--ip", "198.18.210.10", "busybox")...)
	docker(t, d, append(run, "--name", "c2", "--network", "net1", "busybox")...)
	docker(t, d, append(run, "--name", "c3", "--network", "net2", "busybox")...)

	checkResolver(t, d, log, "c1", "c2", "198.18.210.", "c3", netip.MustParsePrefix("198.18.210.10/32"))
}

// checkResolver asks the embedded resolver of container from for known, a
// name on its own network (the answer must start with knownPrefix, and the
// query must not be forwarded), and for stranger and outside.weft.test,
// which must be forwarded to the upstream from an address in src and
// answered with the upstream's answer.
func checkResolver(t *testing.T, d *nstest.Dockerd, log *queryLog, from, known, knownPrefix, stranger string, src netip.Prefix) {
	t.Helper()
	lookup := func(name string) string {
		out, _ := d.Docker("exec", from, "nslookup", "-type=a", name, "127.0.0.11")
		return out
	}
	if out := lookup(known); !strings.Contains(out, "Address: "+knownPrefix) {
		t.Fatalf("%s from %s: want an address starting %s:\n%s", known, from, knownPrefix, out)
	}
	outside := "outside-" + from + ".weft.test"
	for _, name := range []string{outside, stranger} {
		if out := lookup(name); !strings.Contains(out, nstest.UpstreamAnswer.String()) {
			t.Fatalf("%s from %s: want the upstream's answer %s:\n%s", name, from, nstest.UpstreamAnswer, out)
		}
		fqdn := name + "."
		poll.Until(t, 5*time.Second, "the upstream to log "+fqdn, func() bool { return len(log.sources(fqdn)) > 0 })
		srcs := log.sources(fqdn)
		if slices.ContainsFunc(srcs, func(s string) bool { a, err := netip.ParseAddr(s); return err != nil || !src.Contains(a) }) {
			t.Fatalf("%s from %s came to the upstream from %v; want only from %s", fqdn, from, srcs, src)
		}
		t.Logf("%s from %s: forwarded from %v", name, from, srcs)
	}
	if srcs := log.sources(known + "."); slices.ContainsFunc(srcs, func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && src.Contains(a) }) {
		t.Fatalf("%s, a name on %s's own network, was forwarded from %s (from %v); want it answered by the embedded resolver", known, from, src, srcs)
	}
}

// The same on networks of a remote driver with Scope local, as weft's are:
// the embedded resolver answers the names of its own host's containers on
// the container's networks and forwards the rest from the container, with
// the address of the interface its route to the upstream takes: the
// network's own when the driver gives a gateway, docker_gwbridge's when it
// gives none (Docker then adds that network for a way out).
func TestDockerResolverOnPluginNetwork(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdockrd")
	upstream := underlay(1)
	gwbridge := netip.MustParsePrefix("198.18.201.0/24")
	d := dockerHost(t, lab, "h1", 1, nstest.DockerOptions{
		GWBridge:   gwbridge,
		DaemonJSON: map[string]any{"dns": []string{upstream.String()}},
	})
	log := startQueryLog(t, d.NS, upstream)
	for _, s := range [][]string{
		{"-n", d.NS, "link", "add", "labbr", "type", "bridge"},
		{"-n", d.NS, "addr", "add", "198.18.212.1/24", "dev", "labbr"},
		{"-n", d.NS, "link", "set", "labbr", "up"},
	} {
		if _, err := nstest.IP(s...); err != nil {
			t.Fatal(err)
		}
	}
	serveLabDriver(t, d, "labdrv", "labbr")
	if err := d.ImportBusybox("busybox"); err != nil {
		t.Fatal(err)
	}
	docker(t, d, "network", "create", "-d", "labdrv", "--subnet", "198.18.212.0/24", "--gateway", "198.18.212.1", "rnet")
	docker(t, d, "network", "create", "-d", "labdrv", "--subnet", "198.18.213.0/24", "-o", "nogw=1", "rnet2")
	run := []string{"run", "-dit", "--stop-timeout", "1"}
	docker(t, d, append(run, "--name", "c1", "--network", "rnet", "--ip", "198.18.212.10", "busybox")...)
	docker(t, d, append(run, "--name", "c2", "--network", "rnet", "--network-alias", "db", "busybox")...)
	docker(t, d, append(run, "--name", "c3", "--network", "rnet2", "busybox")...)
	docker(t, d, append(run, "--name", "c4", "--network", "rnet2", "busybox")...)
	t.Logf("c3's routes:\n%s", docker(t, d, "exec", "c3", "ip", "route"))

	checkResolver(t, d, log, "c1", "c2", "198.18.212.", "c3", netip.MustParsePrefix("198.18.212.10/32"))
	checkResolver(t, d, log, "c1", "db", "198.18.212.", "c4", netip.MustParsePrefix("198.18.212.10/32"))
	checkResolver(t, d, log, "c3", "c4", "198.18.213.", "c1", gwbridge)
}
