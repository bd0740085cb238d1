//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// podmanHost is Podman with its CNI backend on a lab host: its own
// storage, run directory and network configurations under the lab's
// directory, run inside the host's network namespace.
type podmanHost struct {
	d    *nstest.Weftd
	dir  string
	conf string // its containers.conf
}

// newPodmanHost configures Podman for a lab host: the CNI backend, weft's
// plugin and Debian's in the plugin path, network at its weftd, and
// network ulimits this machine lets runc set (it refuses Podman's
// defaults for RLIMIT_NPROC and RLIMIT_NOFILE).
func newPodmanHost(t *testing.T, d *nstest.Weftd, pluginDir, network string) *podmanHost {
	t.Helper()
	p := &podmanHost{d: d, dir: filepath.Join(d.Lab.Dir(), "podman-"+d.Name)}
	p.conf = filepath.Join(p.dir, "containers.conf")
	netDir := filepath.Join(p.dir, "net.d")
	for _, dir := range []string{netDir, filepath.Join(p.dir, "tmp")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "cni"
cni_plugin_dirs = [%q, "/usr/lib/cni"]
network_config_dir = %q
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
`, pluginDir, netDir, filepath.Join(p.dir, "events.log"), filepath.Join(p.dir, "tmp"))
	writeFile(t, p.conf, conf)
	writeFile(t, filepath.Join(netDir, network+".conflist"), string(cniConfList(t, d, network, "1.0.0")))
	t.Cleanup(func() { p.removeAll(t) }) // before the lab's own clean-up: DEL needs weftd
	return p
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs podman on the host with input on its stdin, bounded in time.
func (p *podmanHost) run(input string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--net=/run/netns/" + p.d.NS, "podman", "--root", filepath.Join(p.dir, "root"),
		"--runroot", filepath.Join(p.dir, "run"), "--storage-driver", "vfs"}
	cmd := exec.CommandContext(ctx, "nsenter", append(base, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	cmd.Stdin = strings.NewReader(input)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s on %s: %w\n%s", strings.Join(args, " "), p.d.Name, err, out)
	}
	return string(out), nil
}

func (p *podmanHost) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.run("", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// removeAll removes the host's containers (CNI DEL for each) and any
// mount Podman left under its directory.
func (p *podmanHost) removeAll(t *testing.T) {
	if out, err := p.run("", "rm", "--all", "--force", "--time", "0"); err != nil {
		t.Errorf("remove podman containers: %v\n%s", err, out)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], p.dir) {
			_ = exec.Command("umount", "-l", f[4]).Run()
		}
	}
}

// busyboxTar is an image's root: /bin/busybox and the applets the test
// runs, as a tar stream for podman import.
func busyboxTar(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "/bin/busybox", bin).CombinedOutput(); err != nil {
		t.Fatalf("copy busybox: %v %s", err, out)
	}
	for _, a := range []string{"sh", "ping", "sleep", "cat", "ip", "nslookup"} {
		if err := os.Symlink("busybox", filepath.Join(bin, a)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("tar", "-C", dir, "-c", ".").Output()
	if err != nil {
		t.Fatalf("tar the image: %v", err)
	}
	return string(out)
}

// Must show 3 with a real runtime: Podman 4.3 from Debian, on its CNI
// backend, on two lab hosts of a weft cluster. alpine1 and alpine2 ping
// each other by name through weft's resolver, which Podman puts first in
// their resolv.conf from the plugin's result; removing a container
// detaches it.
func TestCNIPodman(t *testing.T) {
	if os.Getenv("WEFT_E2E_WEFTD_ARGS") != "" {
		t.Skip("runtime test: run once, on the default data path")
	}
	requireRoot(t)
	requireTools(t, "podman", "nsenter", "/bin/busybox", "/usr/lib/cni/loopback")
	lab := newLab(t, "we2e-pod")
	hosts := newCluster(t, lab, 2)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.23.0/24", "--gateway", "198.19.23.1", "podnet")
	plugins := cniPluginDir(t)
	image := busyboxTar(t)
	var pods []*podmanHost
	for i, d := range hosts {
		p := newPodmanHost(t, d, plugins, "podnet")
		if out, err := p.run(image, "import", "-", "wefttest-busybox"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		p.must(t, "run", "-d", "--name", fmt.Sprintf("alpine%d", i+1), "--network", "podnet", "wefttest-busybox", "sleep", "600")
		pods = append(pods, p)
	}
	for i, p := range pods {
		me, peer := fmt.Sprintf("alpine%d", i+1), fmt.Sprintf("alpine%d", 2-i)
		if conf := p.must(t, "exec", me, "cat", "/etc/resolv.conf"); !strings.HasPrefix(conf, "nameserver 127.0.0.11\n") {
			t.Errorf("%s's resolv.conf does not start with weft's resolver:\n%s", me, conf)
		}
		if out, err := p.run("", "exec", me, "ping", "-c", "2", "-W", "2", peer); err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Errorf("ping %s from %s: %v\n%s", peer, me, err, out)
		}
	}
	pods[1].must(t, "rm", "--force", "--time", "0", "alpine2")
	if ids := attachedIDs(t, hosts[1], "podnet"); len(ids) != 0 {
		t.Errorf("after podman rm, h2 still has %v on podnet", ids)
	}
}
