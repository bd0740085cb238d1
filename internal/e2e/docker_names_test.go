//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// dockerDNSCluster starts n Docker hosts whose weftd answers Docker DNS at
// the host's underlay address, named first in daemon.json "dns" before
// the lab's upstream.
func dockerDNSCluster(t *testing.T, lab *nstest.Lab, n int) []dockerNode {
	t.Helper()
	return dockerClusterWith(t, lab, n, func(i int) (nstest.DockerOptions, []string) {
		addr := underlay(i).String()
		return nstest.DockerOptions{DaemonJSON: map[string]any{"dns": []string{addr, nstest.UpstreamDNS.String()}}}, []string{"--docker-dns", addr}
	})
}

// dockerResolve is the address busybox nslookup in container c finds for
// name, asking Docker's embedded resolver, or "" if it finds none.
func dockerResolve(d *nstest.Dockerd, c, name string) string {
	out, _ := d.Docker("exec", c, "nslookup", "-type=a", name, "127.0.0.11")
	// The server's block ("Server:", "Address: 127.0.0.11:53"), then the
	// answer's "Name: NAME" and "Address: ADDR".
	_, answer, ok := strings.Cut(out, "Name:")
	if !ok {
		return ""
	}
	for _, line := range strings.Split(answer, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(strings.TrimSpace(k), "Address") && len(strings.Fields(v)) > 0 {
			return strings.Fields(v)[0]
		}
	}
	return ""
}

// waitResolve waits up to limit for name to resolve to want in c (want ""
// waits for it not to resolve) and fails the test otherwise.
func waitResolve(t *testing.T, d *nstest.Dockerd, c, name, want string, limit time.Duration) {
	t.Helper()
	var got string
	if !poll.Wait(limit, func() bool { got = dockerResolve(d, c, name); return got == want }) {
		out, _ := d.Docker("exec", c, "nslookup", "-type=a", name, "127.0.0.11")
		t.Fatalf("%s resolves %q in %s on %s; want %q\n%s", name, got, c, d.Name, want, out)
	}
}

// Docker's overlay tutorial by name: alpine1 on host1 and alpine2 on
// host2 ping each other by container name, and by a --network-alias,
// through weftd's Docker DNS; a container on another weft network does not
// resolve alpine2 until docker network connect puts it on test-net, and
// no longer after docker network disconnect.
func TestDockerNames(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdnm")
	up, err := lab.StartUpstreamDNS() // the hosts' usual resolver: names refused by weftd get its NXDOMAIN
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	nodes := dockerDNSCluster(t, lab, 2)
	m, w := nodes[0], nodes[1]

	cli(t, m.w, "network", "create", "test-net", "--subnet", "198.19.1.0/24", "--attachable")
	cli(t, m.w, "network", "create", "other-net", "--subnet", "198.19.2.0/24", "--attachable")
	waitDockerNetwork(t, nodes, "test-net", false)
	waitDockerNetwork(t, nodes, "other-net", false)
	docker(t, m.d, "run", "-dit", "--name", "alpine1", "--network", "test-net", "busybox")
	docker(t, w.d, "run", "-dit", "--name", "alpine2", "--network", "test-net", "--network-alias", "db", "busybox")
	docker(t, m.d, "run", "-dit", "--name", "alpine3", "--network", "other-net", "busybox")
	ip1, ip2 := dockerIP(t, m.d, "alpine1", "test-net"), dockerIP(t, w.d, "alpine2", "test-net")

	began := time.Now()
	waitResolve(t, m.d, "alpine1", "alpine2", ip2, 10*time.Second)
	waitResolve(t, w.d, "alpine2", "alpine1", ip1, 10*time.Second)
	t.Logf("names resolve across hosts %v after the containers started", time.Since(began))
	dockerPing(t, m.d, "alpine1", "alpine2")
	dockerPing(t, w.d, "alpine2", "alpine1")
	waitResolve(t, m.d, "alpine1", "db", ip2, 5*time.Second)
	dockerPing(t, m.d, "alpine1", "db")

	// alpine3 shares no network with alpine2.
	if got := dockerResolve(m.d, "alpine3", "alpine2"); got != "" {
		t.Fatalf("alpine2 resolves to %s in alpine3, on other-net only; want it unknown", got)
	}
	docker(t, m.d, "network", "connect", "test-net", "alpine3")
	waitResolve(t, m.d, "alpine3", "alpine2", ip2, 10*time.Second)
	dockerPing(t, m.d, "alpine3", "alpine2")
	docker(t, m.d, "network", "disconnect", "test-net", "alpine3")
	waitResolve(t, m.d, "alpine3", "alpine2", "", 10*time.Second)

	docker(t, m.d, "rm", "-f", "alpine1", "alpine3")
	docker(t, w.d, "rm", "-f", "alpine2")
}
