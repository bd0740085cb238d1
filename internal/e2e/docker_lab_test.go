//go:build linux

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// skipOnOtherDataPath skips a runtime test in the CI pass that re-runs the
// integration tests on another TAP driver: it runs once, on the default path.
func skipOnOtherDataPath(t *testing.T) {
	t.Helper()
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
}

// dockerHost makes a lab host running dockerd with opt, failing the test (or
// skipping it where root tests may skip) if docker.io or busybox-static is
// missing. The engine's log is shown if the test fails.
func dockerHost(t *testing.T, lab *nstest.Lab, name string, i int, opt nstest.DockerOptions) *nstest.Dockerd {
	t.Helper()
	if err := nstest.DockerAvailable(); err != nil {
		if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
			t.Fatalf("cannot run: %v", err)
		}
		t.Skip(err)
	}
	h, err := lab.Host(name, underlay(i))
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.StartDockerd(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dockerd on %s, last log lines:\n%s", name, d.LogTail(30))
		}
	})
	return d
}

// docker runs the docker client against d and fails the test if it fails.
func docker(t *testing.T, d *nstest.Dockerd, args ...string) string {
	t.Helper()
	out, err := d.Docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The Docker lab itself: a real dockerd 20.10 in a lab host, with docker0
// and docker_gwbridge on 198.18.0.0/16 subnets, an imported busybox image,
// two containers on a user-defined bridge network pinging each other by
// name, a plugin directory of its own, and nothing left after Stop.
func TestDockerLab(t *testing.T) {
	skipOnOtherDataPath(t)
	lab := newLab(t, "wdock")
	began := time.Now()
	d := dockerHost(t, lab, "h1", 1, nstest.DockerOptions{
		Bridge:   netip.MustParsePrefix("198.18.200.1/24"),
		GWBridge: netip.MustParsePrefix("198.18.201.0/24"),
	})
	started := time.Now()
	if err := d.ImportBusybox("busybox"); err != nil {
		t.Fatal(err)
	}
	t.Logf("dockerd ready in %v, image imported in %v", started.Sub(began), time.Since(started))

	for _, nw := range []string{"bridge", "docker_gwbridge"} {
		sub := strings.TrimSpace(docker(t, d, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", nw))
		if p, err := netip.ParsePrefix(sub); err != nil || !netip.MustParsePrefix("198.18.0.0/16").Overlaps(p) {
			t.Errorf("network %s has subnet %q; want one in 198.18.0.0/16", nw, sub)
		}
	}
	docker(t, d, "network", "create", "--subnet", "198.18.210.0/24", "test-net")
	for _, c := range []string{"alpine1", "alpine2"} {
		docker(t, d, "run", "-dit", "--name", c, "--network", "test-net", "busybox")
	}
	for _, p := range [][2]string{{"alpine1", "alpine2"}, {"alpine2", "alpine1"}} {
		out, err := d.Docker("exec", p[0], "ping", "-c", "2", "-W", "2", p[1])
		if err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Fatalf("ping %s from %s: %v\n%s", p[1], p[0], err, out)
		}
	}
	checkPluginDir(t, d)

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := d.Leftovers(); len(left) > 0 {
		t.Fatalf("left after Stop:\n%s", strings.Join(left, "\n"))
	}
	out, err := nstest.IP("-n", d.NS, "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 2 {
		t.Fatalf("links on %s after Stop: %d; want lo and eth0:\n%s", d.NS, n, out)
	}
	t.Logf("whole test: %v", time.Since(began))
}

// checkPluginDir proves the engine sees PluginDir, and only it, at
// /run/docker/plugins: a file made there is listed inside dockerd's mount
// namespace and not in the test's.
func checkPluginDir(t *testing.T, d *nstest.Dockerd) {
	t.Helper()
	marker := fmt.Sprintf("marker-%d.sock", os.Getpid())
	if err := os.WriteFile(d.PluginDir+"/"+marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := nstest.Run("nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", d.PID()), "ls", "/run/docker/plugins")
	if err != nil || !slices.Contains(strings.Fields(out), marker) {
		t.Fatalf("dockerd's /run/docker/plugins: %v; want %s in %q", err, marker, out)
	}
	if _, err := os.Stat("/run/docker/plugins/" + marker); err == nil {
		t.Fatalf("%s is in the test's own /run/docker/plugins; want it only in dockerd's", marker)
	}
}

// A dockerd restart brings back a container run with a restart policy, and
// a lab that closes with containers running (as a failed test's does)
// leaves nothing behind.
func TestDockerLabRestartAndClose(t *testing.T) {
	skipOnOtherDataPath(t)
	var d *nstest.Dockerd
	t.Cleanup(func() { // runs after the lab has closed
		if d == nil {
			return
		}
		if left := d.Leftovers(); len(left) > 0 {
			t.Errorf("left after the lab closed:\n%s", strings.Join(left, "\n"))
		}
		if _, err := os.Stat("/run/docker/plugins/"); err == nil && t.Failed() {
			t.Log("/run/docker/plugins is still there")
		}
	})
	lab := newLab(t, "wdockr")
	d = dockerHost(t, lab, "h1", 1, nstest.DockerOptions{})
	if err := d.ImportBusybox("busybox"); err != nil {
		t.Fatal(err)
	}
	docker(t, d, "network", "create", "--subnet", "198.18.210.0/24", "test-net")
	// busybox's sh as PID 1 ignores SIGTERM: --stop-timeout 1 keeps the
	// engine's shutdown short.
	docker(t, d, "run", "-dit", "--restart", "always", "--stop-timeout", "1", "--name", "c1", "--network", "test-net", "busybox")
	before := d.PID()
	began := time.Now()
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if d.PID() == before {
		t.Fatalf("dockerd's PID is still %d after Restart", before)
	}
	running := func() bool {
		out, err := d.Docker("inspect", "-f", "{{.State.Running}}", "c1")
		return err == nil && strings.TrimSpace(out) == "true"
	}
	if !poll.Wait(20*time.Second, running) {
		t.Fatalf("c1 not running 20s after dockerd restarted: %s", docker(t, d, "ps", "-a"))
	}
	t.Logf("restart and c1 back in %v", time.Since(began))
	docker(t, d, "exec", "c1", "ping", "-c", "1", "-W", "2", "198.18.210.1")
}
