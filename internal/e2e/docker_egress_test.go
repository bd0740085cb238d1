//go:build linux

package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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
		capture, err := lab.StartCapture(outside.NS, "eth0", "outside", "udp", "port", "9999")
		if err != nil {
			t.Fatal(err)
		}
		sent := map[string]dockerNode{"from c1": m, "from c2": w}
		for payload, nd := range sent {
			c := "c" + payload[len(payload)-1:]
			pollPing(t, nd.d, c, outsideIP.String(), 5*time.Second) // the sync's firewall pass comes within 1 s
			docker(t, nd.d, "exec", c, "sh", "-c", "echo '"+payload+"' | nc -u -w 1 "+outsideIP.String()+" 9999")
		}
		var got []nstest.UDPPacket
		poll.Wait(5*time.Second, func() bool { got, _ = nstest.ReadUDP(capture.Path); return len(got) >= len(sent) })
		if err := capture.Stop(); err != nil {
			t.Fatal(err)
		}
		if got, err = nstest.ReadUDP(capture.Path); err != nil {
			t.Fatal(err)
		}
		for payload, nd := range sent {
			i := slices.IndexFunc(got, func(p nstest.UDPPacket) bool { return strings.TrimSpace(string(p.Payload)) == payload })
			switch {
			case i < 0:
				t.Errorf("the outside never saw the datagram %q from %s", payload, nd.d.Name)
			case got[i].Src.Addr() != nd.w.IP:
				t.Errorf("the datagram %q came from %s; want %s, its host's address", payload, got[i].Src.Addr(), nd.w.IP)
			}
		}
	})

	t.Run("internal", func(t *testing.T) {
		capture, err := lab.StartCapture(outside.NS, "eth0", "outside-internal", "icmp")
		if err != nil {
			t.Fatal(err)
		}
		for c, nd := range map[string]dockerNode{"i1": m, "i2": w} {
			if out, _ := nd.d.Docker("exec", c, "ip", "route", "show", "default"); strings.TrimSpace(out) != "" {
				t.Errorf("%s on an internal network has a default route: %q", c, out)
			}
			dockerNoPing(t, nd.d, c, outsideIP.String())
			for _, route := range [][]string{
				{"default", "via", nd.w.IP.String(), "dev", "eth0", "onlink"}, // through its host, which answers ARP for its own address
				{"198.18.0.0/16", "dev", "eth0"},                              // straight onto the bridge
			} {
				docker(t, nd.d, append([]string{"exec", c, "ip", "route", "replace"}, route...)...)
				dockerNoPing(t, nd.d, c, outsideIP.String())
			}
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
		if !poll.Wait(3*time.Second, func() bool { return len(wayOutBridges(t, nd.d)) == 0 }) {
			t.Errorf("DOCKER-USER on %s still lets out %v after outnet went", nd.d.Name, wayOutBridges(t, nd.d))
		}
	}
}
