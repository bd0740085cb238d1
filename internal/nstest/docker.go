//go:build linux

package nstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// The Docker engine a lab runs: Debian's docker.io 20.10. /usr/bin/docker is
// its own client; a newer client elsewhere on the PATH also works (it
// negotiates the API version down) but is not what CI installs.
const (
	DockerdPath = "/usr/sbin/dockerd"
	DockerPath  = "/usr/bin/docker"
)

// dockerPluginsDir is the one directory where Docker 20.10 looks for plugin
// sockets; each lab host's dockerd sees its own directory mounted there.
const dockerPluginsDir = "/run/docker/plugins"

// DockerOptions says how a lab host's dockerd is set up. The zero value is a
// dockerd without docker0 and without docker_gwbridge.
type DockerOptions struct {
	// Bridge is docker0's address and prefix (--bip), in 198.18.0.0/16 and
	// clear of the lab's underlay addresses; the zero value runs dockerd
	// with --bridge none.
	Bridge netip.Prefix
	// GWBridge, if set, is the subnet of a docker_gwbridge network made
	// before any container runs, as Docker documents for choosing its
	// address. Docker makes docker_gwbridge itself only from its default
	// pools, which cannot work in a lab (see DefaultAddressPool).
	GWBridge netip.Prefix
	// DaemonJSON holds settings for daemon.json, e.g. "dns": []string{...}.
	// Keys the harness sets as flags (storage driver, roots, hosts,
	// bridge, pools) must not be repeated here: dockerd refuses that.
	DaemonJSON map[string]any
	// Args are further dockerd flags.
	Args []string
}

// DefaultAddressPool is the pool dockerd is given for networks made without
// --subnet. Docker takes a subnet from it only if no route of the host
// overlaps, and a lab host's underlay route covers all of 198.18.0.0/16, so
// such networks fail ("could not find an available, non-overlapping IPv4
// address pool") rather than taking a private range such as 172.17.0.0/16:
// networks in a lab are made with --subnet.
var DefaultAddressPool = netip.MustParsePrefix("198.18.128.0/17")

// Dockerd is a Docker engine running in a lab host's network namespace and in
// a mount namespace of its own, where PluginDir is mounted over
// /run/docker/plugins.
type Dockerd struct {
	*Host
	// Socket is the engine's API socket; DockerHost is the same as a URL.
	Socket, DockerHost string
	// PluginDir is where this engine finds plugin sockets: a weftd on the
	// same host serves its plugin at PluginDir/weft.sock.
	PluginDir string
	// Log is the path of dockerd's log.
	Log string

	opt                    DockerOptions
	dataRoot, execRoot     string
	pidfile, configFile    string
	clientConfig, imageDir string
	cgroupParent           string

	mu     sync.Mutex // guards the fields below
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	closed bool
}

// StartDockerd runs dockerd 20.10 on the host with its own data root, exec
// root (where its containerd runs too), socket, plugin directory and
// cgroups, all under the lab's directory, and waits until its API answers.
// The lab stops it and removes all it made when it closes.
func (h *Host) StartDockerd(opt DockerOptions) (*Dockerd, error) {
	if err := DockerAvailable(); err != nil {
		return nil, err
	}
	base := filepath.Join(h.Lab.dir, h.Name+".docker")
	d := &Dockerd{
		Host: h, Socket: base + ".sock", PluginDir: base + ".plugins", Log: base + ".log",
		opt: opt, dataRoot: base + ".data", execRoot: base + ".exec",
		pidfile: base + ".pid", configFile: base + ".json",
		clientConfig: base + ".client", imageDir: base + ".image",
		cgroupParent: "/" + h.NS + "-docker",
	}
	d.DockerHost = "unix://" + d.Socket
	if err := d.prepare(); err != nil {
		return nil, err
	}
	if err := acquirePluginsMountpoint(); err != nil {
		return nil, err
	}
	h.Lab.OnClose(d.Close)
	if err := d.start(); err != nil {
		return nil, err
	}
	if opt.GWBridge.IsValid() {
		if err := d.makeGWBridge(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// DockerAvailable says which part of the Docker engine (docker.io) or of
// busybox-static is missing, if one is.
func DockerAvailable() error {
	for _, p := range []string{DockerdPath, DockerPath, "nsenter", "unshare", "containerd", "runc", "tar"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("docker lab needs %s (apt-get install docker.io): %w", p, err)
		}
	}
	return requireStatic(BusyboxPath)
}

// prepare makes the engine's directories, daemon.json and, if asked for,
// docker0: dockerd 20.10 checks a docker0 it has to make against the host's
// routes, and every 198.18.0.0/16 subnet overlaps the underlay's, so it
// would refuse to start; one that exists is used with the address it has.
func (d *Dockerd) prepare() error {
	for _, dir := range []string{d.PluginDir, d.dataRoot, d.execRoot, d.clientConfig} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	conf := d.opt.DaemonJSON
	if conf == nil {
		conf = map[string]any{}
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return fmt.Errorf("daemon.json for %s: %w", d.Name, err)
	}
	if err := os.WriteFile(d.configFile, b, 0o600); err != nil {
		return err
	}
	if !d.opt.Bridge.IsValid() {
		return nil
	}
	return d.makeDocker0()
}

func (d *Dockerd) makeDocker0() error {
	if _, err := IP("-n", d.NS, "link", "show", "docker0"); err == nil {
		return nil // from an earlier start
	}
	for _, s := range [][]string{
		{"-n", d.NS, "link", "add", "docker0", "type", "bridge"},
		{"-n", d.NS, "addr", "add", d.opt.Bridge.String(), "dev", "docker0"},
	} {
		if _, err := IP(s...); err != nil {
			return fmt.Errorf("docker0 on %s: %w", d.Name, err)
		}
	}
	return nil
}

// args are dockerd's command line.
func (d *Dockerd) args() []string {
	args := []string{
		"--config-file", d.configFile,
		"--storage-driver", "vfs",
		"--data-root", d.dataRoot, "--exec-root", d.execRoot, "--pidfile", d.pidfile,
		"-H", d.DockerHost,
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", d.cgroupParent,
		"--default-address-pool", "base=" + DefaultAddressPool.String() + ",size=24",
	}
	if d.opt.Bridge.IsValid() {
		args = append(args, "--bip", d.opt.Bridge.String())
	} else {
		args = append(args, "--bridge", "none")
	}
	return append(args, d.opt.Args...)
}

// start runs dockerd: nsenter enters only the host's network namespace (not
// `ip netns exec`, which remounts /sys so that dockerd finds no devices
// cgroup), unshare gives it a private mount namespace, and a shell there
// mounts PluginDir over /run/docker/plugins and the host's resolv.conf over
// /etc/resolv.conf before it becomes dockerd.
func (d *Dockerd) start() error {
	log, err := os.OpenFile(d.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	script := `mount --bind "$0" ` + dockerPluginsDir + ` || exit 1
if [ -f "$WEFT_LAB_RESOLV" ]; then mount --bind "$WEFT_LAB_RESOLV" /etc/resolv.conf || exit 1; fi
exec "$@"`
	args := append([]string{"--net=/run/netns/" + d.NS, "--", "unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", script, d.PluginDir, DockerdPath}, d.args()...)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), "WEFT_LAB_RESOLV="+filepath.Join(etcNetns, d.NS, "resolv.conf"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd on %s: %w", d.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()
	return d.waitReady(cmd, exited, 60*time.Second)
}

// waitReady waits until the API answers /_ping, and fails at once if
// dockerd exits first.
func (d *Dockerd) waitReady(cmd *exec.Cmd, exited chan struct{}, limit time.Duration) error {
	gone := false
	ok := poll.Wait(limit, func() bool {
		select {
		case <-exited:
			gone = true
			return true
		default:
		}
		return d.ping() == nil
	})
	if !ok || gone {
		state := fmt.Sprintf("not ready after %s", limit)
		if gone {
			state = "exited: " + cmd.ProcessState.String()
		}
		return fmt.Errorf("dockerd on %s %s; log:\n%s", d.Name, state, d.LogTail(30))
	}
	return nil
}

// ping asks the engine's API whether it is up.
func (d *Dockerd) ping() error {
	c, err := net.DialTimeout("unix", d.Socket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /_ping HTTP/1.0\r\n\r\n"); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n == 0 {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.0 200") && !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		return fmt.Errorf("dockerd on %s: /_ping: %q", d.Name, buf[:n])
	}
	return nil
}

// makeGWBridge makes the docker_gwbridge network with the options Docker
// gives its own, on the subnet the options name.
func (d *Dockerd) makeGWBridge() error {
	if _, err := d.Docker("network", "inspect", "docker_gwbridge"); err == nil {
		return nil
	}
	_, err := d.Docker("network", "create", "--subnet", d.opt.GWBridge.String(),
		"-o", "com.docker.network.bridge.name=docker_gwbridge",
		"-o", "com.docker.network.bridge.enable_icc=false",
		"-o", "com.docker.network.bridge.enable_ip_masquerade=true",
		"docker_gwbridge")
	return err
}

// Docker runs the docker client against this engine and returns its combined
// output.
func (d *Dockerd) Docker(args ...string) (string, error) {
	return d.DockerInput("", args...)
}

// DockerInput runs the docker client with input on its standard input.
func (d *Dockerd) DockerInput(input string, args ...string) (string, error) {
	cmd := exec.Command(DockerPath, append([]string{"-H", d.DockerHost}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.clientConfig)
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	return runCmd(cmd, "docker on "+d.Name)
}

// runCmd runs cmd with a one-minute bound and returns its combined output;
// its error names what and the arguments.
func runCmd(cmd *exec.Cmd, what string) (string, error) {
	cmd.WaitDelay = 10 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s %s: %w", what, strings.Join(cmd.Args[1:], " "), err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", what, strings.Join(cmd.Args[1:], " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// PID is dockerd's process ID.
func (d *Dockerd) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd.Process.Pid
}

// Running reports whether dockerd is alive.
func (d *Dockerd) Running() bool {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// LogTail returns the last lines of dockerd's log.
func (d *Dockerd) LogTail(lines int) string {
	b, _ := os.ReadFile(d.Log)
	return tail(strings.TrimRight(string(b), "\n"), lines)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Restart stops dockerd as a service manager would (SIGTERM: it stops its
// containers, and containerd with it) and starts it again with the same
// options, waiting until its API answers. Containers run with a restart
// policy come back.
func (d *Dockerd) Restart() error {
	if err := d.terminate(); err != nil {
		return err
	}
	return d.start()
}

// terminate sends dockerd SIGTERM and waits for it to exit, killing it
// after a bound longer than its own shutdown timeout.
func (d *Dockerd) terminate() error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("dockerd on %s did not stop within 30s of SIGTERM; killed it; log:\n%s", d.Name, d.LogTail(20))
}

// Stop removes every container, stops dockerd and containerd, kills
// anything of theirs that is left (shims, container processes), and removes
// the cgroups and the links Docker made in the host's namespace. The engine's
// directories stay until the lab's directory goes. Stop is idempotent.
func (d *Dockerd) Stop() error {
	var errs []error
	if d.Running() {
		if out, err := d.Docker("ps", "-aq"); err != nil {
			errs = append(errs, err)
		} else if ids := strings.Fields(out); len(ids) > 0 {
			if _, err := d.Docker(append([]string{"rm", "-f"}, ids...)...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, d.terminate(), d.sweep())
	return errors.Join(errs...)
}

// Close stops the engine, as Stop does, and gives up the plugin mountpoint;
// the lab calls it when it closes.
func (d *Dockerd) Close() error {
	d.mu.Lock()
	closed := d.closed
	d.closed = true
	d.mu.Unlock()
	if closed {
		return nil
	}
	err := d.Stop()
	releasePluginsMountpoint()
	return err
}
