//go:build linux

package e2e

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// wayOutRule is weftd's rule in DOCKER-USER that lets a bridge's traffic
// out, as iptables -S shows it.
var wayOutRule = regexp.MustCompile(`-A DOCKER-USER -i (wbr\d+) -j ACCEPT`)

// wayOutBridges lists the bridges DOCKER-USER lets out on engine d's host.
func wayOutBridges(t *testing.T, d *nstest.Dockerd) []string {
	t.Helper()
	out, err := nstest.Exec(d.NS, "iptables", "-S", "DOCKER-USER")
	if err != nil {
		t.Fatalf("iptables -S DOCKER-USER on %s: %v\n%s", d.Name, err, out)
	}
	var bridges []string
	for _, m := range wayOutRule.FindAllStringSubmatch(out, -1) {
		bridges = append(bridges, m[1])
	}
	return bridges
}

// Docker containers' way out: on a weft network that is not internal,
// containers on two hosts reach the lab's outside through their hosts
// (with their hosts' addresses) past Docker's FORWARD policy of DROP; on
// an internal network, made with docker network create --internal or weft
// network create --internal, a container reaches nothing outside, even
// with routes it adds itself, as a capture in the outside shows. Weftd's
// rules in DOCKER-USER follow the networks: the way out of each network
// that has one, nothing for an internal one, and gone with the network.
func TestDockerEgress(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdeg")
	nodes := dockerCluster(t, lab, 2)
	m, w := nodes[0], nodes[1]
	outside, err := lab.Host("outside", outsideIP)
	if err != nil {
		t.Fatal(err)
	}

	docker(t, m.d, "network", "create", "-d", "weft", "--ipam-driver", "weft", "--subnet", "198.19.43.0/24", "--attachable", "outnet")
	docker(t, m.d, "network", "create", "-d", "weft", "--ipam-driver", "weft", "--subnet", "198.19.44.0/24", "--attachable", "--internal", "dinternal")
	cli(t, m.w, "network", "create", "--attachable", "--internal", "--subnet", "198.19.45.0/24", "winternal")
	for _, n := range []string{"outnet", "dinternal", "winternal"} {
		waitDockerNetwork(t, nodes, n, false)
	}
	docker(t, m.d, "run", "-dit", "--name", "c1", "--network", "outnet", "busybox")
	docker(t, w.d, "run", "-dit", "--name", "c2", "--network", "outnet", "busybox")
	// NET_ADMIN so that the internal containers can try routes of their own.
	docker(t, m.d, "run", "-dit", "--cap-add", "NET_ADMIN", "--name", "i1", "--network", "dinternal", "busybox")
	docker(t, w.d, "run", "-dit", "--cap-add", "NET_ADMIN", "--name", "i2", "--network", "winternal", "busybox")

	t.Run("way out", func(t *testing.T) {
		capture, err := lab.StartCapture(outside.NS, "eth0", "outside", "icmp")
		if err != nil {
			t.Fatal(err)
		}
		containers := map[string]dockerNode{"c1": m, "c2": w}
		for c, nd := range containers {
			pollPing(t, nd.d, c, outsideIP.String(), 5*time.Second) // the sync's firewall pass comes within 1 s
		}
		// tcpdump has written the packets once the file holds more than
		// its header (24 bytes).
		poll.Wait(3*time.Second, func() bool { fi, err := os.Stat(capture.Path); return err == nil && fi.Size() > 24 })
		// Who the outside saw asking: the hosts, never a container.
		from := map[netip.Addr]int{}
		readCapture(t, capture, func(p gopacket.Packet) {
			if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.DstIP.Equal(outsideIP.AsSlice()) {
				src, _ := netip.AddrFromSlice(ip.SrcIP.To4())
				from[src]++
			}
		})
		for c, nd := range containers {
			if from[nd.w.IP] == 0 {
				t.Errorf("the outside saw no packet from %s, %s's host; it saw packets from %v", nd.w.IP, c, from)
			}
		}
		for src := range from {
			if netip.MustParsePrefix("198.19.0.0/16").Contains(src) {
				t.Errorf("the outside saw a container's own address %s; want its host's", src)
			}
		}
	})

	t.Run("internal", func(t *testing.T) {
		capture, err := lab.StartCapture(outside.NS, "eth0", "outside-internal", "icmp")
		if err != nil {
			t.Fatal(err)
		}
		for c, nd := range map[string]dockerNode{"i1": m, "i2": w} {
			if out, _ := nd.d.Docker("exec", c, "ip", "route"); strings.Contains(out, "default") {
				t.Errorf("%s on an internal network has a default route:\n%s", c, out)
			}
			dockerNoPing(t, nd.d, c, outsideIP.String())
			// Through its host, which answers ARP for its own address.
			docker(t, nd.d, "exec", c, "ip", "route", "replace", nd.w.IP.String(), "dev", "eth0")
			docker(t, nd.d, "exec", c, "ip", "route", "replace", "default", "via", nd.w.IP.String(), "dev", "eth0")
			dockerNoPing(t, nd.d, c, outsideIP.String())
		}
		// The outside has no route back to the overlay, so a ping would
		// fail even if its request got out: the capture shows none did.
		if n := packetsTo(t, capture, outsideIP); n != 0 {
			t.Errorf("%d packets from the internal containers reached the outside", n)
		}
	})

	// One way out per host, outnet's; it goes with the network.
	for _, nd := range nodes {
		if got := wayOutBridges(t, nd.d); len(got) != 1 {
			out, _ := nstest.Exec(nd.d.NS, "iptables", "-S", "DOCKER-USER")
			t.Errorf("DOCKER-USER on %s lets out %v; want outnet's bridge alone:\n%s", nd.d.Name, got, out)
		}
	}
	docker(t, m.d, "rm", "-f", "c1", "i1")
	docker(t, w.d, "rm", "-f", "c2", "i2")
	docker(t, m.d, "network", "rm", "outnet")
	waitDockerNetwork(t, nodes, "outnet", true)
	for _, nd := range nodes {
		if !poll.Wait(10*time.Second, func() bool { return len(wayOutBridges(t, nd.d)) == 0 }) {
			t.Errorf("DOCKER-USER on %s still lets out %v after outnet went", nd.d.Name, wayOutBridges(t, nd.d))
		}
	}
}
