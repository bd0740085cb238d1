//go:build linux

package e2e

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netns"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/egress"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// outsideIP is the lab's "outside": a namespace on the underlay that no
// overlay address can reach but through a host's masquerade.
var outsideIP = netip.MustParseAddr("198.18.0.200")

// A way out for weft attach containers (issue 14, must-show 4): on a
// network that is not internal, containers on two hosts reach the outside
// through their own host, with its address; an internal network's
// container reaches nothing, even with a route of its own; a published
// port answers from outside and from the host, and a second publish of it
// is refused; a restart of weftd leaves the same rules and the traffic
// flowing; detach and network rm take their rules with them.
func TestEgressInternalAndPublish(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
	lab := newLab(t, "we2e-egr")
	hosts := newCluster(t, lab, 2)
	outside, err := lab.Host("outside", outsideIP)
	if err != nil {
		t.Fatal(err)
	}
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.40.0/24", "outnet")
	cli(t, hosts[0], "network", "create", "--attachable", "--internal", "--subnet", "198.19.41.0/24", "innet")
	c1 := container(t, hosts[0], "c1", "outnet", "")
	c2 := container(t, hosts[1], "c2", "outnet", "")
	i1 := container(t, hosts[0], "i1", "innet", "")

	t.Run("way out", func(t *testing.T) {
		captures := captureTAPs(t, lab, hosts, "outnet")
		wayOut(t, lab, outside, map[*nstest.Weftd]string{hosts[0]: c1, hosts[1]: c2})
		ping(t, c1, containerAddr(t, hosts[1], "outnet", "c2")) // the overlay still works with a gateway on every host
		for h, ns := range map[*nstest.Weftd]string{hosts[0]: c1, hosts[1]: c2} {
			gatewayIsLocal(t, h, ns, "outnet")
		}
		gw := net.ParseIP(inspectNet(t, hosts[0], "outnet", false).IPAM.Config[0].Gateway)
		for h, c := range captures {
			if n := arpFor(t, c, gw); n != 0 {
				t.Errorf("%d ARP packets about the gateway %s crossed %s's TAP: the overlay carries them", n, gw, h.Name)
			}
		}
	})
	t.Run("internal", func(t *testing.T) { internalIsShut(t, lab, hosts[0], outside, i1) })
	c3, err := lab.Container("c3")
	if err != nil {
		t.Fatal(err)
	}
	serveTCP(t, c3, 80, "c3") // for the whole test: the port answers again after the restart
	t.Run("publish", func(t *testing.T) { publish(t, lab, hosts[0], outside, c3) })

	before := rules(t, hosts[0])
	if !slices.ContainsFunc(before["inet postrouting"], func(c string) bool { return strings.HasPrefix(c, "outnet:") }) {
		t.Fatalf("no masquerade of outnet on %s: %v", hosts[0].Name, before)
	}
	hosts[0].Stop()
	restarted, err := hosts[0].StartWeftd()
	if err != nil {
		t.Fatal(err)
	}
	dumpLogsOnFailure(t, restarted)
	hosts[0] = restarted
	// The only manager elects itself again before it answers for the
	// cluster's networks; the data plane does not wait for it.
	if !poll.Wait(10*time.Second, func() bool { _, err := hosts[0].CLI("network", "inspect", "innet"); return err == nil }) {
		t.Fatal("the restarted manager never answered for its networks")
	}
	if after := rules(t, hosts[0]); !maps.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("the rules changed across a restart:\nbefore %v\nafter  %v", before, after)
	}
	ping(t, c1, outsideIP.String())
	if got, err := dial(outside.NS, hosts[0].IP.String()+":8080"); err != nil || got != "c3" {
		t.Fatalf("published port after the restart: %q, %v; want c3", got, err)
	}

	t.Run("removed with the endpoint and the network", func(t *testing.T) {
		cli(t, hosts[0], "detach", "--network", "outnet", c3)
		if slices.ContainsFunc(rules(t, hosts[0])["inet prerouting"], func(c string) bool { return strings.Contains(c, "8080/tcp") }) {
			t.Errorf("c3's port is still published after its detach: %v", rules(t, hosts[0]))
		}
		if got, err := dial(outside.NS, hosts[0].IP.String()+":8080"); err == nil {
			t.Errorf("the port answers %q after c3's detach", got)
		}
		cli(t, hosts[0], "detach", "--network", "innet", i1)
		cli(t, hosts[0], "network", "rm", "innet")
		if slices.ContainsFunc(slices.Concat(slices.Collect(maps.Values(rules(t, hosts[0])))...), func(c string) bool { return strings.Contains(c, "innet") }) {
			t.Errorf("innet's rules outlive it: %v", rules(t, hosts[0]))
		}
		cli(t, hosts[0], "detach", "--network", "outnet", c1)
		cli(t, hosts[1], "detach", "--network", "outnet", c2)
		cli(t, hosts[0], "network", "rm", "outnet")
		for _, h := range hosts {
			if !poll.Wait(10*time.Second, func() bool { return len(rules(t, h)) == 0 }) {
				t.Errorf("%s keeps weft's tables with no network: %v", h.Name, rules(t, h))
			}
		}
	})
}

// wayOut checks that every container reaches the outside, and that the
// outside sees its host's address, never the container's.
func wayOut(t *testing.T, lab *nstest.Lab, outside *nstest.Host, containers map[*nstest.Weftd]string) {
	t.Helper()
	capture, err := lab.StartCapture(outside.NS, "eth0", "outside", "udp", "port", "9999")
	if err != nil {
		t.Fatal(err)
	}
	for h, ns := range containers {
		if out, _ := nstest.Exec(ns, "ip", "route", "show", "default"); !strings.Contains(out, "via 198.19.40.1") {
			t.Errorf("%s on %s: default route %q; want one via the gateway 198.19.40.1", ns, h.Name, out)
		}
		ping(t, ns, outsideIP.String())
		send(t, ns, outsideIP.String()+":9999", "from "+h.Name)
	}
	// The datagrams went out after the pings came back: tcpdump has them
	// once it has written them all, which -U does per packet.
	var got []nstest.UDPPacket
	poll.Wait(5*time.Second, func() bool { got, _ = nstest.ReadUDP(capture.Path); return len(got) >= len(containers) })
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	if got, err = nstest.ReadUDP(capture.Path); err != nil {
		t.Fatal(err)
	}
	for h := range containers {
		i := slices.IndexFunc(got, func(p nstest.UDPPacket) bool { return string(p.Payload) == "from "+h.Name })
		switch {
		case i < 0:
			t.Errorf("the outside never saw the datagram from %s's container", h.Name)
		case got[i].Src.Addr() != h.IP:
			t.Errorf("the datagram from %s's container came from %s; want %s, its host's address", h.Name, got[i].Src.Addr(), h.IP)
		}
	}
}

// captureTAPs captures the ARP packets that cross each host's TAP of
// network, to or from the overlay.
func captureTAPs(t *testing.T, lab *nstest.Lab, hosts []*nstest.Weftd, network string) map[*nstest.Weftd]*nstest.Capture {
	t.Helper()
	out := map[*nstest.Weftd]*nstest.Capture{}
	for _, h := range hosts {
		tap := strings.Replace(inspectNet(t, h, network, false).Bridge, "wbr", "wtap", 1)
		c, err := lab.StartCapture(h.NS, tap, h.Name+"-tap-arp", "arp")
		if err != nil {
			t.Fatal(err)
		}
		out[h] = c
	}
	return out
}

// arpFor stops a capture and counts its ARP packets that ask for or
// answer about ip.
func arpFor(t *testing.T, c *nstest.Capture, ip net.IP) int {
	t.Helper()
	n := 0
	readCapture(t, c, func(p gopacket.Packet) {
		if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok && (net.IP(a.DstProtAddress).Equal(ip) || net.IP(a.SourceProtAddress).Equal(ip)) {
			n++
		}
	})
	return n
}

// readCapture stops a capture and calls f on each of its frames.
func readCapture(t *testing.T, c *nstest.Capture, f func(gopacket.Packet)) {
	t.Helper()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range diagFrames(t, c.Path) {
		f(p)
	}
}

// gatewayIsLocal checks that the container in ns learned the gateway's MAC
// from its own host's bridge, not from another host over the overlay.
func gatewayIsLocal(t *testing.T, h *nstest.Weftd, ns, network string) {
	t.Helper()
	n := inspectNet(t, h, network, false)
	gw := n.IPAM.Config[0].Gateway
	neigh, err := nstest.Exec(ns, "ip", "neigh", "show", gw)
	if err != nil {
		t.Fatal(err)
	}
	mac, err := nstest.Exec(h.NS, "cat", "/sys/class/net/"+n.Bridge+"/address")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(mac); !strings.Contains(neigh, want) {
		t.Errorf("%s on %s: gateway %s is %q; want %s's bridge %s", ns, h.Name, gw, strings.TrimSpace(neigh), h.Name, want)
	}
}

// internalIsShut checks that the container of an internal network in ns
// has no gateway and reaches nothing outside the overlay, the host
// included, even with routes it adds itself.
func internalIsShut(t *testing.T, lab *nstest.Lab, h *nstest.Weftd, outside *nstest.Host, ns string) {
	t.Helper()
	capture, err := lab.StartCapture(outside.NS, "eth0", "outside-internal", "icmp")
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := nstest.Exec(ns, "ip", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("a container of an internal network has a default route: %q", out)
	}
	if gw := endpointOf(t, h, "innet", "i1").Gateway; gw != "" {
		t.Errorf("an endpoint of an internal network reports gateway %s", gw)
	}
	noPing := func(why string) {
		t.Helper()
		out, err := nstest.Exec(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", outsideIP.String())
		if err == nil {
			t.Errorf("%s: the internal container reached the outside:\n%s", why, out)
		}
	}
	noPing("with no route")
	for _, route := range [][]string{
		{"default", "via", h.IP.String(), "dev", "eth0", "onlink"}, // through its host, which answers ARP for its own address
		{"198.18.0.0/16", "dev", "eth0"},                           // straight onto the bridge
	} {
		if _, err := nstest.Exec(ns, append([]string{"ip", "route", "replace"}, route...)...); err != nil {
			t.Fatal(err)
		}
		noPing("with a route " + strings.Join(route, " "))
	}
	if out, err := nstest.Exec(ns, "ping", "-c", "2", "-i", "0.2", "-W", "1", h.IP.String()); err == nil {
		t.Errorf("the internal container reached its host %s:\n%s", h.IP, out)
	}
	// The outside has no route back to the overlay, so a ping would fail
	// even if its request got out: the capture shows that none did.
	if n := packetsTo(t, capture, outsideIP); n != 0 {
		t.Errorf("%d packets from the internal container reached the outside", n)
	}
}

// packetsTo stops a capture and counts its IPv4 packets to dst.
func packetsTo(t *testing.T, c *nstest.Capture, dst netip.Addr) int {
	t.Helper()
	n := 0
	readCapture(t, c, func(p gopacket.Packet) {
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.DstIP.Equal(dst.AsSlice()) {
			n++
		}
	})
	return n
}

// publish attaches c3, which serves TCP port 80, publishing it as 8080, and
// checks that it answers from outside and from the host itself; a second
// publish of the port, and bad specs, are refused.
func publish(t *testing.T, lab *nstest.Lab, h *nstest.Weftd, outside *nstest.Host, c3 string) {
	t.Helper()
	cli(t, h, "attach", "--network", "outnet", "--name", "c3", "--publish", "8080:80", "--publish", "5353:5300/udp", c3)
	if p := endpointOf(t, h, "outnet", "c3").Published; !slices.Equal(p, []string{"8080:80/tcp", "5353:5300/udp"}) {
		t.Errorf("network inspect shows c3 publishing %v; want [8080:80/tcp 5353:5300/udp]", p)
	}
	for _, from := range []string{outside.NS, h.NS} {
		if got, err := dial(from, h.IP.String()+":8080"); err != nil || got != "c3" {
			t.Errorf("from %s to %s:8080: %q, %v; want c3's answer", from, h.IP, got, err)
		}
	}
	udp, err := nstest.ListenUDP(c3, 5300)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	send(t, outside.NS, h.IP.String()+":5353", "udp to c3")
	if !poll.Wait(3*time.Second, func() bool { return udp.Received("udp to c3") > 0 }) {
		t.Errorf("a datagram from outside to %s:5353/udp did not reach c3's port 5300", h.IP)
	}
	c4, err := lab.Container("c4")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--network", "outnet", "--publish", "8080:81"}, []string{"8080/tcp", "c3"}},
		{[]string{"--network", "outnet", "--publish", "8080"}, []string{`"8080"`, "HOSTPORT:PORT"}},
		{[]string{"--network", "outnet", "--publish", "8081:80/sctp"}, []string{`"8081:80/sctp"`}},
		{[]string{"--network", "innet", "--publish", "8082:80"}, []string{"innet", "internal"}},
	} {
		out, err := h.CLI(append(append([]string{"attach", "--name", "c4"}, tc.args...), c4)...)
		if err == nil {
			t.Errorf("attach %v: accepted; want a refusal", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("attach %v: %q does not say %s", tc.args, strings.TrimSpace(out), w)
			}
		}
	}
}

// endpointOf is the named container's endpoint on network, as d shows it.
func endpointOf(t *testing.T, d *nstest.Weftd, network, name string) api.Endpoint {
	t.Helper()
	for _, e := range inspectNet(t, d, network, false).Containers {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("%s is not on %s at %s", name, network, d.Name)
	return api.Endpoint{}
}

// containerAddr is the named container's address on network.
func containerAddr(t *testing.T, d *nstest.Weftd, network, name string) string {
	t.Helper()
	return strings.Split(endpointOf(t, d, network, name).IPv4Address, "/")[0]
}

// rules returns the comments of weft's nftables rules on d's host, by chain.
func rules(t *testing.T, d *nstest.Weftd) map[string][]string {
	t.Helper()
	h, err := netns.GetFromName(d.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got, err := (&egress.Table{NetNS: int(h)}).Read()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// serveTCP answers every connection to port in ns with reply, until the
// test ends.
func serveTCP(t *testing.T, ns string, port int, reply string) {
	t.Helper()
	var ln net.Listener
	if err := nstest.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// dial connects from ns to addr and returns what it answers.
func dial(ns, addr string) (string, error) {
	var c net.Conn
	if err := nstest.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}
