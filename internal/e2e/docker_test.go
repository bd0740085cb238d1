//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// dockerNode is a lab host with dockerd and a weftd that serves it the weft
// plugin.
type dockerNode struct {
	d *nstest.Dockerd
	w *nstest.Weftd
}

// dockerCluster starts n hosts with dockerd and weftd, the first a
// manager that inits a cluster, the others workers, and imports busybox
// into every engine.
func dockerCluster(t *testing.T, lab *nstest.Lab, n int) []dockerNode {
	t.Helper()
	return dockerClusterWith(t, lab, n, func(int) (nstest.DockerOptions, []string) { return nstest.DockerOptions{}, nil })
}

// dockerClusterWith is dockerCluster with each host's dockerd options and
// further weftd flags given by setup, of the host's number from 1.
func dockerClusterWith(t *testing.T, lab *nstest.Lab, n int, setup func(i int) (nstest.DockerOptions, []string)) []dockerNode {
	t.Helper()
	nodes := make([]dockerNode, n)
	for i := range nodes {
		opt, args := setup(i + 1)
		d := dockerHost(t, lab, fmt.Sprintf("h%d", i+1), i+1, opt)
		w, err := d.StartWeftd(append([]string{"--docker-plugin-socket", filepath.Join(d.PluginDir, "weft.sock"), "--docker-host", d.DockerHost}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, w)
		if err := d.ImportBusybox("busybox"); err != nil {
			t.Fatal(err)
		}
		nodes[i] = dockerNode{d, w}
		t.Cleanup(func() {
			if t.Failed() {
				fdb, _ := w.CLI("debug", "fdb")
				peers, _ := w.CLI("debug", "peers")
				nets, _ := w.CLI("network", "ls")
				t.Logf("weft on %s:\n%s\n%s\n%s", w.Name, nets, fdb, peers)
			}
		})
	}
	out := cli(t, nodes[0].w, "cluster", "init", "--default-addr-pool", "198.19.0.0/16")
	token := tokenRE.FindString(out)
	if token == "" {
		t.Fatalf("no worker token in init output:\n%s", out)
	}
	for _, nd := range nodes[1:] {
		cli(t, nd.w, "cluster", "join", "--token", token, nodes[0].w.IP.String()+":2377")
	}
	return nodes
}

// dockerNetworks lists an engine's networks of driver weft.
func dockerNetworks(d *nstest.Dockerd) []string {
	out, err := d.Docker("network", "ls", "--filter", "driver=weft", "--format", "{{.Name}}")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// waitDockerNetwork waits until every engine lists (or, with gone, no
// longer lists) network name, within the 2 s weft promises.
func waitDockerNetwork(t *testing.T, nodes []dockerNode, name string, gone bool) {
	t.Helper()
	began := time.Now()
	for _, nd := range nodes {
		if !poll.Wait(2*time.Second-time.Since(began), func() bool { return slices.Contains(dockerNetworks(nd.d), name) != gone }) {
			t.Fatalf("docker network ls on %s: %v %s after %v; want %s there: %v", nd.d.Name, dockerNetworks(nd.d), name, time.Since(began), name, !gone)
		}
	}
	t.Logf("docker network %s %s on every host in %v", name, map[bool]string{false: "shown", true: "gone"}[gone], time.Since(began))
}

// dockerIP is a container's address on a network.
func dockerIP(t *testing.T, d *nstest.Dockerd, name, network string) string {
	t.Helper()
	return strings.TrimSpace(docker(t, d, "inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), name))
}

// dockerPing pings dst from container c and fails unless replies come
// back.
func dockerPing(t *testing.T, d *nstest.Dockerd, c, dst string) {
	t.Helper()
	out, err := d.Docker("exec", c, "ping", "-c", "2", "-W", "2", dst)
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		inside, _ := d.Docker("exec", c, "sh", "-c", "ip addr; ip route; ip neigh")
		links, _ := nstest.IP("-n", d.NS, "-d", "link", "show")
		t.Fatalf("ping %s from %s on %s: %v\n%s\nin the container:\n%s\nlinks of %s:\n%s", dst, c, d.Name, err, out, inside, d.NS, links)
	}
}

// dockerNoPing proves that c cannot reach dst.
func dockerNoPing(t *testing.T, d *nstest.Dockerd, c, dst string) {
	t.Helper()
	if out, err := d.Docker("exec", c, "ping", "-c", "2", "-W", "1", dst); err == nil {
		t.Fatalf("ping %s from %s on %s got replies; want none:\n%s", dst, c, d.Name, out)
	}
}

// weftLinks lists the container veths weft left on a host.
func weftLinks(t *testing.T, h *nstest.Weftd) []string {
	t.Helper()
	out, err := nstest.IP("-n", h.NS, "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && (strings.HasPrefix(f[1], "wv") || strings.HasPrefix(f[1], "wc")) {
			left = append(left, f[1])
		}
	}
	return left
}

// Docker's overlay tutorial on a weft cluster: a network made with weft
// network create shows in docker network ls on both hosts within 2 s;
// alpine1 on host1 and alpine2 on host2 ping each other; a network made
// with docker network create on the manager is a weft cluster network,
// isolated from the first; docker network create without weft's IPAM is
// refused; removal is refused while a container uses the network, and
// clean-up leaves nothing allocated and no link behind.
func TestDockerOverlay(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdov")
	nodes := dockerCluster(t, lab, 2)
	m, w := nodes[0], nodes[1]

	cli(t, m.w, "network", "create", "test-net", "--subnet", "198.19.1.0/24", "--attachable")
	waitDockerNetwork(t, nodes, "test-net", false)
	docker(t, m.d, "run", "-dit", "--name", "alpine1", "--network", "test-net", "busybox")
	docker(t, w.d, "run", "-dit", "--name", "alpine2", "--network", "test-net", "--ip", "198.19.1.77", "busybox")
	ip1, ip2 := dockerIP(t, m.d, "alpine1", "test-net"), dockerIP(t, w.d, "alpine2", "test-net")
	if ip2 != "198.19.1.77" {
		t.Errorf("alpine2 has %s; want the --ip 198.19.1.77", ip2)
	}
	if out, err := m.d.Docker("run", "-d", "--name", "dup", "--network", "test-net", "--ip", ip2, "busybox"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("--ip %s, taken on the other host: %v\n%s; want it refused", ip2, err, out)
	}
	_, _ = m.d.Docker("rm", "-f", "dup")
	dockerPing(t, m.d, "alpine1", ip2)
	dockerPing(t, w.d, "alpine2", ip1)
	// Docker's FORWARD policy drops bridged frames; weftd's rule in
	// DOCKER-USER is what lets them through, written as iptables reads it.
	if out, err := nstest.Exec(m.d.NS, "iptables", "-S", "DOCKER-USER"); err != nil || !strings.Contains(out, "-A DOCKER-USER -i wbr+ -o wbr+ -j ACCEPT") {
		t.Errorf("iptables -S DOCKER-USER on %s: %v\n%s; want weft's rule", m.d.Name, err, out)
	}

	out, err := m.d.Docker("network", "create", "-d", "weft", "--subnet", "198.19.250.0/24", "nope")
	if err == nil || !strings.Contains(out, "--ipam-driver weft") {
		t.Errorf("docker network create without weft's IPAM: %v\n%s; want it refused, saying to add --ipam-driver weft", err, out)
	}
	docker(t, m.d, "network", "create", "-d", "weft", "--ipam-driver", "weft", "--subnet", "198.19.250.0/24", "--attachable", "other-net")
	waitDockerNetwork(t, nodes, "other-net", false)
	if out := cli(t, w.w, "network", "inspect", "other-net"); !strings.Contains(out, "198.19.250.0/24") {
		t.Errorf("weft network inspect other-net on the worker:\n%s; want subnet 198.19.250.0/24", out)
	}
	docker(t, w.d, "run", "-dit", "--name", "alpine3", "--network", "other-net", "busybox")
	dockerNoPing(t, w.d, "alpine3", ip1)

	if out, err := m.d.Docker("network", "rm", "test-net"); err == nil || !strings.Contains(out, "endpoints") {
		t.Errorf("docker network rm of a network in use on another host: %v\n%s; want it refused", err, out)
	}
	if out, err := w.d.Docker("network", "rm", "other-net"); err == nil {
		t.Errorf("docker network rm on a worker: succeeded; want it refused\n%s", out)
	}
	docker(t, m.d, "rm", "-f", "alpine1")
	docker(t, w.d, "rm", "-f", "alpine2", "alpine3")
	docker(t, m.d, "network", "rm", "other-net") // refused were any address still held
	cli(t, m.w, "network", "rm", "test-net")
	waitDockerNetwork(t, nodes, "other-net", true)
	waitDockerNetwork(t, nodes, "test-net", true)
	for _, nd := range nodes {
		if left := weftLinks(t, nd.w); len(left) > 0 {
			t.Errorf("links left on %s: %v", nd.w.Name, left)
		}
	}
}

// pollPing waits up to limit for c to reach dst, as a network's keys or a
// restarted daemon's records arrive, and returns how long that took.
func pollPing(t *testing.T, d *nstest.Dockerd, c, dst string, limit time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	if !poll.Wait(limit, func() bool { _, err := d.Docker("exec", c, "ping", "-c", "1", "-W", "1", dst); return err == nil }) {
		dockerPing(t, d, c, dst) // fails, with what the container sees
	}
	return time.Since(began)
}

// An encrypted network made with docker network create -o encrypted and
// an MTU option: the containers get that MTU, and on two hosts ping each
// other by name and by address, and no cleartext VXLAN frame of the
// network crosses the underlay.
func TestDockerEncrypted(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdenc")
	up, err := lab.StartUpstreamDNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	nodes := dockerDNSCluster(t, lab, 2)
	m, w := nodes[0], nodes[1]
	docker(t, m.d, "network", "create", "-d", "weft", "--ipam-driver", "weft", "-o", "encrypted", "-o", "com.docker.network.driver.mtu=1350", "--subnet", "198.19.12.0/24", "--attachable", "secret")
	waitDockerNetwork(t, nodes, "secret", false)
	sec := inspectNet(t, m.w, "secret", false)
	if !sec.Encrypted {
		t.Fatalf("weft network secret made with -o encrypted is not encrypted: %+v", sec)
	}
	docker(t, m.d, "run", "-dit", "--name", "c1", "--network", "secret", "busybox")
	docker(t, w.d, "run", "-dit", "--name", "c2", "--network", "secret", "busybox")
	ip1, ip2 := dockerIP(t, m.d, "c1", "secret"), dockerIP(t, w.d, "c2", "secret")
	for _, c := range []struct {
		d    *nstest.Dockerd
		name string
	}{{m.d, "c1"}, {w.d, "c2"}} {
		if mtu := strings.TrimSpace(docker(t, c.d, "exec", c.name, "cat", "/sys/class/net/eth0/mtu")); mtu != "1350" {
			t.Errorf("%s's eth0 has MTU %s; want the network's 1350", c.name, mtu)
		}
	}
	pollPing(t, m.d, "c1", ip2, 5*time.Second) // the keys come from the managers within a second
	waitResolve(t, m.d, "c1", "c2", ip2, 10*time.Second)
	waitResolve(t, w.d, "c2", "c1", ip1, 10*time.Second)
	capture, err := lab.StartCapture(m.w.NS, "eth0", "underlay", "udp", "port", "4789")
	if err != nil {
		t.Fatal(err)
	}
	dockerPing(t, m.d, "c1", "c2")
	dockerPing(t, w.d, "c2", "c1")
	dockerPing(t, m.d, "c1", ip2)
	fromW := func(pkts []nstest.UDPPacket) int {
		n := 0
		for _, p := range pkts {
			if p.Src.Addr() == w.w.IP {
				n++
			}
		}
		return n
	}
	poll.Until(t, 5*time.Second, "tcpdump to write the replies", func() bool {
		pkts, err := nstest.ReadUDP(capture.Path)
		return err == nil && fromW(pkts) >= 4
	})
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	pkts, err := nstest.ReadUDP(capture.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if len(p.Payload) >= 8 && binary.BigEndian.Uint32(p.Payload) == wcrypto.VXLANFlags && binary.BigEndian.Uint32(p.Payload[4:])>>8 == sec.VNI {
			t.Fatalf("cleartext VXLAN of the encrypted network on the underlay: %x", p.Payload[:16])
		}
	}
	t.Logf("capture: %d datagrams, none in the clear", len(pkts))
}

// weftd and dockerd restarts with containers running: traffic resumes
// within 2 s of weftd's return; containers dockerd brings back get their
// network back; and once they are gone nothing is left allocated (the
// network's removal, refused while any address is held, succeeds) and no
// link is left.
func TestDockerRestarts(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdrst")
	nodes := dockerCluster(t, lab, 2)
	m, w := nodes[0], nodes[1]
	cli(t, m.w, "network", "create", "test-net", "--subnet", "198.19.3.0/24", "--attachable")
	waitDockerNetwork(t, nodes, "test-net", false)
	docker(t, m.d, "run", "-dit", "--name", "alpine1", "--network", "test-net", "busybox")
	// busybox's sh as PID 1 ignores SIGTERM: --stop-timeout 1 keeps the
	// engine's shutdown short.
	docker(t, w.d, "run", "-dit", "--restart", "always", "--stop-timeout", "1", "--name", "alpine2", "--network", "test-net", "busybox")
	ip1, ip2 := dockerIP(t, m.d, "alpine1", "test-net"), dockerIP(t, w.d, "alpine2", "test-net")
	pollPing(t, m.d, "alpine1", ip2, 2*time.Second)

	w.w.Stop()
	restarted, err := w.d.StartWeftd("--docker-plugin-socket", filepath.Join(w.d.PluginDir, "weft.sock"), "--docker-host", w.d.DockerHost)
	if err != nil {
		t.Fatal(err)
	}
	dumpLogsOnFailure(t, restarted)
	t.Logf("traffic back %v after weftd restarted", pollPing(t, m.d, "alpine1", ip2, 2*time.Second))
	pollPing(t, w.d, "alpine2", ip1, 2*time.Second)

	if err := w.d.Restart(); err != nil {
		t.Fatal(err)
	}
	if !poll.Wait(20*time.Second, func() bool {
		out, err := w.d.Docker("inspect", "-f", "{{.State.Running}}", "alpine2")
		return err == nil && strings.TrimSpace(out) == "true"
	}) {
		t.Fatalf("alpine2 not running 20 s after dockerd restarted: %s", docker(t, w.d, "ps", "-a"))
	}
	ip2 = dockerIP(t, w.d, "alpine2", "test-net")
	t.Logf("traffic back %v after alpine2 came back", pollPing(t, m.d, "alpine1", ip2, 5*time.Second))
	pollPing(t, w.d, "alpine2", ip1, 2*time.Second)

	docker(t, m.d, "rm", "-f", "alpine1")
	docker(t, w.d, "rm", "-f", "alpine2")
	cli(t, m.w, "network", "rm", "test-net") // refused while any address is held
	waitDockerNetwork(t, nodes, "test-net", true)
	for _, nd := range []*nstest.Weftd{m.w, restarted} {
		if left := weftLinks(t, nd); len(left) > 0 {
			t.Errorf("links left on %s: %v", nd.Name, left)
		}
	}
}
