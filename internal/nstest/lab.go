//go:build linux

// Package nstest builds throwaway test hosts out of network namespaces: an
// underlay switch, hosts that run weftd or the kernel's VXLAN, and containers.
// The integration tests, the demo and the benchmark harness share it.
//
// Every address it configures is in 198.18.0.0/16 (underlay) or whatever
// overlay subnet the caller picks in 198.19.0.0/16; nothing leaves the lab's
// namespaces.
package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lab is a set of namespaces joined by an underlay switch. Close removes all
// of it, and the processes started in it.
type Lab struct {
	prefix string
	bin    string // directory holding weftd and weft
	dir    string // scratch directory for sockets, state and logs

	mu         sync.Mutex
	namespaces []string
	procs      []*exec.Cmd
	switchNS   string
	closers    []func() error // run first by Close, the last added first
}

// New makes a lab whose namespaces are named prefix-*, after removing any left
// by an earlier run with the same prefix. bin is where weftd and weft are; dir
// is a scratch directory the lab may fill.
func New(prefix, bin, dir string) (*Lab, error) {
	l := &Lab{prefix: prefix, bin: bin, dir: dir}
	RemoveStale(prefix)
	sw, err := l.Netns("sw")
	if err != nil {
		return nil, err
	}
	l.switchNS = sw
	if _, err := IP("-n", sw, "link", "add", "br0", "type", "bridge"); err != nil {
		l.Close()
		return nil, err
	}
	if _, err := IP("-n", sw, "link", "set", "br0", "up"); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// RemoveStale deletes the namespaces an earlier run with this prefix left.
func RemoveStale(prefix string) {
	out, _ := IP("netns", "list")
	for _, line := range strings.Split(out, "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix+"-") {
			_ = delNetns(name)
		}
	}
	etc, _ := filepath.Glob(filepath.Join(etcNetns, prefix+"-*"))
	for _, dir := range etc {
		_ = os.RemoveAll(dir)
	}
}

// etcNetns is where `ip netns exec` finds a namespace's own /etc files.
const etcNetns = "/etc/netns"

// delNetns deletes a namespace and the /etc files made for it (the
// resolv.conf of a host, or one weftd wrote for a container).
func delNetns(ns string) error {
	_, err := IP("netns", "del", ns)
	if rerr := os.RemoveAll(filepath.Join(etcNetns, ns)); err == nil {
		err = rerr
	}
	return err
}

// Dir is the lab's scratch directory.
func (l *Lab) Dir() string { return l.dir }

// Bin returns the path of one of weft's binaries.
func (l *Lab) Bin(name string) string { return filepath.Join(l.bin, name) }

// Netns makes a namespace named prefix-name with its loopback up and IPv6
// off (so that it sends nothing a test did not ask for), and returns its name.
func (l *Lab) Netns(name string) (string, error) {
	ns := l.prefix + "-" + name
	if _, err := IP("netns", "add", ns); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, ns)
	l.mu.Unlock()
	if _, err := IP("-n", ns, "link", "set", "lo", "up"); err != nil {
		return ns, err
	}
	_, err := Exec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns, err
}

// DeleteNetns deletes one of the lab's namespaces before the lab closes, as a
// container that goes away without being detached.
func (l *Lab) DeleteNetns(ns string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, n := range l.namespaces {
		if n == ns {
			l.namespaces = append(l.namespaces[:i], l.namespaces[i+1:]...)
			return delNetns(ns)
		}
	}
	return fmt.Errorf("namespace %s is not the lab's", ns)
}

// Container makes a namespace to attach to networks.
func (l *Lab) Container(name string) (string, error) { return l.Netns(name) }

// Start runs a command inside ns in the background until the lab closes. Its
// output goes to logPath. The process is killed if the test process dies.
func (l *Lab) Start(ns, logPath string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s in %s: %w", args[0], ns, err)
	}
	log.Close() // the child has its own copy
	l.mu.Lock()
	l.procs = append(l.procs, cmd)
	l.mu.Unlock()
	return cmd, nil
}

// OnClose makes Close call f first, before it stops the lab's processes and
// deletes its namespaces: for what needs more than that to go (a dockerd).
func (l *Lab) OnClose(f func() error) {
	l.mu.Lock()
	l.closers = append(l.closers, f)
	l.mu.Unlock()
}

// Close runs what OnClose registered, kills every process the lab started
// and deletes its namespaces. Links inside them go with them.
func (l *Lab) Close() error {
	l.mu.Lock()
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		errs = append(errs, closers[i]())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.procs {
		if p.ProcessState == nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range l.procs {
		waitOrKill(p, 3*time.Second)
	}
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		if err := delNetns(l.namespaces[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.procs, l.namespaces = nil, nil
	return errors.Join(errs...)
}

// stop sends SIGTERM to one of the lab's processes and waits for it.
func (l *Lab) stop(p *exec.Cmd) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.ProcessState == nil {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	waitOrKill(p, 3*time.Second)
}

func waitOrKill(p *exec.Cmd, grace time.Duration) {
	if p.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Process.Kill()
		<-done
	}
}

// Host is a namespace on the lab's underlay switch.
type Host struct {
	Lab  *Lab
	Name string     // short name, as given to Host
	NS   string     // namespace name
	IP   netip.Addr // underlay address, in 198.18.0.0/16
}

// Host makes a namespace joined to the switch by a veth with address ip/16 on
// its eth0. Its resolv.conf (what a weftd started in it reads) names
// UpstreamDNS, inside the lab, so that no DNS query a test causes leaves it.
func (l *Lab) Host(name string, ip netip.Addr) (*Host, error) {
	ns, err := l.Netns(name)
	if err != nil {
		return nil, err
	}
	if err := writeResolvConf(ns, UpstreamDNS); err != nil {
		return nil, err
	}
	port := fmt.Sprintf("p%s", name)
	steps := [][]string{
		{"-n", l.switchNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", l.switchNS, "link", "set", port, "master", "br0", "up"},
		{"-n", ns, "addr", "add", ip.String() + "/16", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if _, err := IP(s...); err != nil {
			return nil, err
		}
	}
	return &Host{Lab: l, Name: name, NS: ns, IP: ip}, nil
}

// writeResolvConf gives a namespace its own resolv.conf naming server.
func writeResolvConf(ns string, server netip.Addr) error {
	dir := filepath.Join(etcNetns, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+server.String()+"\n"), 0o644)
}

// IP runs the ip command and returns its combined output.
func IP(args ...string) (string, error) {
	return run("ip", args...)
}

// Exec runs a command inside a namespace with a one-minute bound and returns
// its combined output.
func Exec(ns string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// ExecInput runs a command inside a namespace with input on its standard
// input.
func ExecInput(ns, input string, args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	// Generous: under heavy load draining a finished command's output can
	// take more than a second.
	cmd.WaitDelay = 10 * time.Second
	done := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	out, err := cmd.CombinedOutput()
	done.Stop()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Run runs a command in weftd's test process's own namespace with a
// one-minute bound and returns its combined output.
func Run(name string, args ...string) (string, error) { return run(name, args...) }
