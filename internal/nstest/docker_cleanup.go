//go:build linux

package nstest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// sweep kills whatever of the engine outlived dockerd (containerd, shims,
// container processes), then removes its cgroups and the links Docker made
// in the host's namespace.
func (d *Dockerd) sweep() error {
	var errs []error
	if pids := d.processes(); len(pids) > 0 {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !poll.Wait(10*time.Second, func() bool { return len(d.processes()) == 0 }) {
			errs = append(errs, fmt.Errorf("docker on %s: processes %v survive SIGKILL", d.Name, d.processes()))
		}
	}
	for _, dir := range d.cgroups() {
		if err := removeCgroup(dir, 3); err != nil {
			errs = append(errs, err)
		}
	}
	for _, link := range d.links() {
		if _, err := IP("-n", d.NS, "link", "del", link); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what the engine left after Stop: processes, cgroups,
// links in the host's namespace and mounts visible outside its mount
// namespace. It is empty when Stop cleaned everything.
func (d *Dockerd) Leftovers() []string {
	var left []string
	for _, pid := range d.processes() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		left = append(left, fmt.Sprintf("process %d: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	for _, dir := range d.cgroups() {
		left = append(left, "cgroup "+dir)
	}
	for _, link := range d.links() {
		left = append(left, "link "+link+" in "+d.NS)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		for _, dir := range []string{d.dataRoot, d.execRoot, d.PluginDir} {
			if strings.Contains(line, dir) {
				left = append(left, "mount "+line)
			}
		}
	}
	return left
}

// processes lists the engine's processes: every one whose command line names
// its exec root (dockerd, containerd, the shims), and their descendants
// (containers and the commands run in them).
func (d *Dockerd) processes() []int {
	parent := map[int]int{}
	var roots []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, ok := processParent(pid)
		if !ok {
			continue
		}
		parent[pid] = ppid
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), d.execRoot) {
			roots = append(roots, pid)
		}
	}
	return descendants(parent, roots)
}

// processParent reads a live process's parent; a zombie counts as gone.
func processParent(pid int) (int, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The state and the parent follow the command name, in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 || f[0] == "Z" {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// descendants returns roots and every process below them.
func descendants(parent map[int]int, roots []int) []int {
	in := map[int]bool{}
	for _, r := range roots {
		in[r] = true
	}
	// Each pass adds the children of what is in; a chain of processes is
	// never longer than the number of processes.
	for range len(parent) {
		grew := false
		for pid, ppid := range parent {
			if in[ppid] && !in[pid] {
				in[pid], grew = true, true
			}
		}
		if !grew {
			break
		}
	}
	var pids []int
	for pid := range in {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// cgroups lists the engine's cgroup directories, under each cgroup v1
// hierarchy or the v2 one.
func (d *Dockerd) cgroups() []string {
	var dirs []string
	for _, pattern := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/*"} {
		found, _ := filepath.Glob(filepath.Join(pattern, d.cgroupParent))
		dirs = append(dirs, found...)
	}
	return dirs
}

// removeCgroup removes a cgroup directory and the cgroups below it, down to
// depth levels.
func removeCgroup(dir string, depth int) error {
	if depth > 0 {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				if err := removeCgroup(filepath.Join(dir, e.Name()), depth-1); err != nil {
					return err
				}
			}
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	return nil
}

// dockerLink matches the names of the links Docker makes: its bridges and
// the host ends of its veths.
var dockerLink = regexp.MustCompile(`^(docker0|docker_gwbridge|br-[0-9a-f]{12}|veth[0-9a-f]{7})$`)

// links lists Docker's links in the host's namespace.
func (d *Dockerd) links() []string {
	out, err := IP("-n", d.NS, "-o", "link", "show")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if dockerLink.MatchString(name) {
			names = append(names, name)
		}
	}
	return names
}

// The mountpoint /run/docker/plugins is made on the machine's /run when the
// first lab engine starts, if it is not there, and removed when the last one
// closes: removing it while an engine runs would detach that engine's mount.
var pluginsMountpoint struct {
	sync.Mutex
	users   int
	created []string // directories made, innermost last
}

func acquirePluginsMountpoint() error {
	m := &pluginsMountpoint
	m.Lock()
	defer m.Unlock()
	if m.users == 0 {
		for _, dir := range []string{filepath.Dir(dockerPluginsDir), dockerPluginsDir} {
			if _, err := os.Stat(dir); err == nil {
				continue
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				return fmt.Errorf("mountpoint for lab plugin directories: %w", err)
			}
			m.created = append(m.created, dir)
		}
	}
	m.users++
	return nil
}

func releasePluginsMountpoint() {
	m := &pluginsMountpoint
	m.Lock()
	defer m.Unlock()
	if m.users--; m.users > 0 {
		return
	}
	for i := len(m.created) - 1; i >= 0; i-- {
		_ = os.Remove(m.created[i]) // only if empty: something else may use it
	}
	m.created = nil
}
