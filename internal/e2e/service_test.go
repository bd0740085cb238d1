//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// repoRoot is the module's root, seen from this package's directory (where
// go test runs it).
const repoRoot = "../.."

// The unit that make install writes passes systemd-analyze verify: its
// options exist and parse, its commands exist in the installed tree. And the
// check has teeth: a typo'd option, a bad value or a missing binary fails
// it.
func TestServiceUnitVerifies(t *testing.T) {
	requireRoot(t)
	requireTools(t, "systemd-analyze", "make")
	root := t.TempDir()
	svcRun(t, "make", "-s", "-C", repoRoot, "-o", "build", "install", "DESTDIR="+root, "BIN="+binDir)
	// verify --root resolves the unit's dependencies (sysinit.target, ...)
	// and its commands (ExecReload's kill) inside root: give it the host's
	// units and kill, in a merged-/usr layout.
	svcNoErr(t, os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755))
	svcNoErr(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	svcRun(t, "cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/"))
	svcRun(t, "cp", "/usr/bin/kill", filepath.Join(root, "usr/bin/kill"))
	svcNoErr(t, os.Symlink("usr/bin", filepath.Join(root, "bin")))

	unit := filepath.Join(root, "usr/local/lib/systemd/system/weftd.service")
	if msg := verifyUnit(root); msg != "" {
		t.Fatalf("systemd-analyze verify on the installed unit: %s", msg)
	}
	good, err := os.ReadFile(unit)
	svcNoErr(t, err)
	for _, tc := range []struct{ name, old, new string }{
		{"typo'd option", "\nRestartSec=", "\nRestartSek="},
		{"bad value", "Restart=on-failure", "Restart=on-falure"},
		{"relative path", "ReadWritePaths=-/etc/netns", "ReadWritePaths=-etc/netns"},
		{"binary not installed", "ExecStart=/usr/local/bin/weftd", "ExecStart=/usr/local/bin/weftdd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tc.old)) {
				t.Fatalf("the unit has no %q to break", tc.old)
			}
			svcNoErr(t, os.WriteFile(unit, bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1), 0o644))
			defer func() { svcNoErr(t, os.WriteFile(unit, good, 0o644)) }()
			if msg := verifyUnit(root); msg == "" {
				t.Errorf("systemd-analyze verify passed a unit with %q for %q; want a complaint", tc.new, tc.old)
			}
		})
	}
	// systemd drops capability names it does not know without a word, even
	// from verify: check them against its own list.
	known := map[string]bool{}
	for _, line := range strings.Split(svcRun(t, "systemd-analyze", "capability"), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			known[f[0]] = true
		}
	}
	for _, c := range unitCapabilities(t) {
		if !known[c] {
			t.Errorf("CapabilityBoundingSet names %s, which systemd does not know", c)
		}
	}
}

// make install puts the config file in place, and a second install keeps
// the one an operator edited.
func TestServiceInstallKeepsConfig(t *testing.T) {
	requireRoot(t)
	requireTools(t, "make")
	root := t.TempDir()
	install := func() {
		svcRun(t, "make", "-s", "-C", repoRoot, "-o", "build", "install", "DESTDIR="+root, "BIN="+binDir)
	}
	install()
	conf := filepath.Join(root, "etc/weft/weftd.yaml")
	got, err := os.ReadFile(conf)
	svcNoErr(t, err)
	want, err := os.ReadFile(filepath.Join(repoRoot, "dist/weftd.yaml"))
	svcNoErr(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("installed %s differs from dist/weftd.yaml", conf)
	}
	for _, p := range []string{"usr/local/bin/weftd", "usr/local/bin/weft", "usr/local/lib/systemd/system/weftd.service", "etc/netns"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("make install: %v", err)
		}
	}
	edited := []byte("log-level: debug\n")
	svcNoErr(t, os.WriteFile(conf, edited, 0o644))
	install()
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, edited) {
		t.Errorf("a second make install replaced the edited %s:\n%s", conf, got)
	}
}

// weftd says READY=1 only once its data plane and API are up: when the
// message arrives, the API socket answers, the VXLAN port is bound and a
// saved network's bridge, deleted while weftd was down, is back. On SIGTERM
// it says STOPPING=1, exits 0 and leaves the containers' veths, the bridge
// and their resolv.conf in place. weftd runs with no more capabilities than
// the unit gives it, and with them does what needs each: makes networks,
// attaches containers by name and by /proc/PID/ns/net, serves their
// resolver, captures a network's frames.
func TestServiceNotifyAndStop(t *testing.T) {
	lab := newLab(t, "we2e-svc")
	h, err := lab.Host("h1", underlay(1))
	svcNoErr(t, err)
	notes := listenNotify(t, filepath.Join(lab.Dir(), "notify.sock"))

	w := svcStart(t, h, "--config", "")
	notes.expect(t, "READY=1")
	svcCheckUp(t, w)
	cli(t, w.Weftd, "network", "create", "--vni", "71", "--subnet", "198.19.71.0/24", "svcnet")
	cli(t, w.Weftd, "network", "create", "--vni", "72", "--subnet", "198.19.72.0/24", "svcempty")
	c1 := container(t, w.Weftd, "c1", "svcnet", "198.19.71.5")
	c2, err := lab.Container("c2")
	svcNoErr(t, err)
	sleeper, err := lab.Start(c2, filepath.Join(lab.Dir(), "sleep.log"), "sleep", "600")
	svcNoErr(t, err)
	cli(t, w.Weftd, "attach", "--network", "svcnet", "--ip", "198.19.71.6", "--name", "c2", fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid))
	if out, err := nstest.Exec(c1, "dig", "+short", "+time=2", "+tries=2", "@127.0.0.11", "c2"); err != nil || strings.TrimSpace(out) != "198.19.71.6" {
		t.Fatalf("c1 resolving c2: %v %q; want 198.19.71.6", err, out)
	}
	resolvConf := filepath.Join("/etc/netns", c1, "resolv.conf")
	if _, err := os.Stat(resolvConf); err != nil {
		t.Fatalf("attach by name: %v", err)
	}
	// weft debug capture reads the bridge through an AF_PACKET socket.
	pinger, err := lab.Start(c1, filepath.Join(lab.Dir(), "ping.log"), "ping", "-c", "20", "-i", "0.2", "198.19.71.6")
	svcNoErr(t, err)
	pcap := filepath.Join(lab.Dir(), "svcnet.pcap")
	cli(t, w.Weftd, "debug", "capture", "--network", "svcnet", "-w", pcap, "--count", "2", "--duration", "5s")
	if fi, err := os.Stat(pcap); err != nil || fi.Size() <= 24 { // a pcap header alone is 24 bytes
		t.Fatalf("capture under the unit's capabilities: %v, %v", err, fi)
	}
	_ = pinger.Process.Kill()

	w.stop(t, notes)
	for _, link := range []string{"wbr71", "wbr72"} {
		if _, err := nstest.IP("-n", h.NS, "link", "show", link); err != nil {
			t.Errorf("bridge %s gone after SIGTERM: %v", link, err)
		}
	}
	if out, err := nstest.IP("-n", h.NS, "-o", "link", "show", "master", "wbr71"); err != nil || strings.Count(out, "wv") != 2 {
		t.Errorf("containers' veths on wbr71 after SIGTERM: %v\n%s", err, out)
	}
	if out, err := nstest.IP("-n", c1, "-o", "addr", "show", "eth0"); err != nil || !strings.Contains(out, "198.19.71.5/24") {
		t.Errorf("c1's eth0 after SIGTERM: %v\n%s", err, out)
	}
	if _, err := os.Stat(resolvConf); err != nil {
		t.Errorf("c1's resolv.conf after SIGTERM: %v", err)
	}
	ping(t, c1, "198.19.71.6") // the bridge still carries them, with weftd down

	// The restart: READY=1 must wait for the restore to make wbr72 again.
	if _, err := nstest.IP("-n", h.NS, "link", "del", "wbr72"); err != nil {
		t.Fatal(err)
	}
	w = svcStart(t, h, "--config", "")
	notes.expect(t, "READY=1")
	svcCheckUp(t, w)
	if _, err := nstest.IP("-n", h.NS, "link", "show", "wbr72"); err != nil {
		t.Errorf("READY=1 before the saved network's bridge was made again: %v", err)
	}
	if out := cli(t, w.Weftd, "network", "ls"); !strings.Contains(out, "svcnet") || !strings.Contains(out, "svcempty") {
		t.Errorf("networks after the restart: want svcnet and svcempty:\n%s", out)
	}
	w.stop(t, notes)
}

// SIGHUP rereads the config file: a new log level applies at once (debug
// lines appear, then go again), and a file that does not load is logged and
// leaves the level as it was.
func TestServiceReload(t *testing.T) {
	lab := newLab(t, "we2e-svcr")
	h, err := lab.Host("h1", underlay(1))
	svcNoErr(t, err)
	notes := listenNotify(t, filepath.Join(lab.Dir(), "notify.sock"))
	conf := filepath.Join(lab.Dir(), "weftd.yaml")
	svcNoErr(t, os.WriteFile(conf, []byte("log-level: info\n"), 0o644))
	w := svcStart(t, h, "--config", conf)
	notes.expect(t, "READY=1")

	// Each network's creation logs "TAP open" at debug level.
	steps := []struct {
		file      string
		wantDebug bool
		wantLog   string
	}{
		{"log-level: info\n", false, ""},
		{"log-level: debug\n", true, `msg="config reloaded"`},
		{"log-level: [debug\n", true, `msg="config not reloaded; the settings in effect stay"`},
		{"log-lvl: info\n", true, `unknown key \"log-lvl\"`},
		{"log-level: info\n", false, `msg="config reloaded"`},
	}
	for i, s := range steps {
		if i > 0 {
			svcNoErr(t, os.WriteFile(conf, []byte(s.file), 0o644))
			mark := svcLogSize(t, w)
			svcNoErr(t, w.cmd.Process.Signal(syscall.SIGHUP))
			notes.expect(t, "RELOADING=1")
			notes.expect(t, "READY=1")
			if got := svcLogSince(t, w, mark); !strings.Contains(got, s.wantLog) {
				t.Fatalf("step %d (%q): log after SIGHUP lacks %s:\n%s", i, s.file, s.wantLog, got)
			}
		}
		name := fmt.Sprintf("svcr%d", i)
		mark := svcLogSize(t, w)
		cli(t, w.Weftd, "network", "create", "--vni", fmt.Sprint(80+i), "--subnet", fmt.Sprintf("198.19.%d.0/24", 80+i), name)
		got := svcLogSince(t, w, mark)
		if debug := strings.Contains(got, `msg="TAP open" network=`+name); debug != s.wantDebug {
			t.Fatalf("step %d (%q): debug line logged = %v; want %v. Log:\n%s", i, s.file, debug, s.wantDebug, got)
		}
	}
	w.stop(t, notes)
}

// svcStarts numbers the weftd runs, for their log files.
var svcStarts int

// svcWeftd is a weftd started as systemd would: with the unit's
// capabilities, no new privileges, and NOTIFY_SOCKET.
type svcWeftd struct {
	*nstest.Weftd
	cmd *exec.Cmd
}

// svcStart runs weftd on h under the unit's capability bounding set,
// with the lab's paths and the given flags, and does not wait for it.
func svcStart(t *testing.T, h *nstest.Host, extra ...string) *svcWeftd {
	t.Helper()
	requireTools(t, "setpriv")
	caps := []string{"-all"}
	for _, c := range unitCapabilities(t) {
		caps = append(caps, "+"+strings.TrimPrefix(c, "cap_"))
	}
	base := filepath.Join(h.Lab.Dir(), h.Name)
	svcStarts++
	w := &nstest.Weftd{Host: h, Socket: base + ".sock", Log: fmt.Sprintf("%s.%d.log", base, svcStarts)}
	args := []string{"setpriv", "--bounding-set", strings.Join(caps, ","), "--no-new-privs", h.Lab.Bin("weftd"),
		"--state-dir", base + ".state", "--api-socket", w.Socket,
		"--metrics-addr", nstest.MetricsAddr, "--data-path-addr", h.IP.String(), "--docker-plugin-socket", ""} // never the machine's Docker
	args = append(args, strings.Fields(os.Getenv("WEFT_E2E_WEFTD_ARGS"))...)
	args = append(args, extra...)
	cmd, err := h.Lab.Start(h.NS, w.Log, args...)
	svcNoErr(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(w.Log)
			t.Logf("log of weftd %s:\n%s", w.Log, tail(string(log), 40))
		}
	})
	s := &svcWeftd{Weftd: w, cmd: cmd}
	return s
}

// stop sends SIGTERM and checks that weftd says STOPPING=1 and exits 0.
func (s *svcWeftd) stop(t *testing.T, notes *notifyListener) {
	t.Helper()
	svcNoErr(t, s.cmd.Process.Signal(syscall.SIGTERM))
	notes.expect(t, "STOPPING=1")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("weftd after SIGTERM: %v; want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Fatal("weftd still running 10 s after SIGTERM")
	}
}

// svcCheckUp checks, at once, what READY=1 promises: the API socket accepts
// and answers, and the VXLAN port is bound.
func svcCheckUp(t *testing.T, s *svcWeftd) {
	t.Helper()
	c, err := net.DialTimeout("unix", s.Socket, time.Second)
	if err != nil {
		t.Fatalf("READY=1 before the API socket accepts: %v", err)
	}
	c.Close()
	err = nstest.Do(s.NS, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: s.IP.AsSlice(), Port: 4789})
		if err == nil {
			c.Close()
			return errors.New("port 4789 is free")
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("READY=1 before the VXLAN socket is bound: %v", err)
	}
	if _, err := s.CLI("network", "ls"); err != nil {
		t.Fatalf("READY=1 before the API answers: %v", err)
	}
}

// notifyListener is a fake NOTIFY_SOCKET: it collects what weftd sends.
type notifyListener struct {
	msgs chan string
}

// listenNotify opens a unixgram socket at path and points NOTIFY_SOCKET at
// it for the rest of the test (the processes the test starts inherit it).
func listenNotify(t *testing.T, path string) *notifyListener {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	svcNoErr(t, err)
	t.Setenv("NOTIFY_SOCKET", path)
	n := &notifyListener{msgs: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			sc := bufio.NewScanner(bytes.NewReader(buf[:k]))
			for sc.Scan() {
				select {
				case n.msgs <- sc.Text():
				default: // a test that stopped reading
				}
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return n
}

// expect waits up to 15 s for the next message and fails unless it is want.
func (n *notifyListener) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-n.msgs:
		if got != want {
			t.Fatalf("sd_notify: got %q; want %q", got, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("sd_notify: no %q within 15 s", want)
	}
}

// unitCapabilities lists the unit's CapabilityBoundingSet, in lower case.
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join(repoRoot, "dist/weftd.service"))
	svcNoErr(t, err)
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			return strings.Fields(strings.ToLower(v))
		}
	}
	t.Fatal("dist/weftd.service has no CapabilityBoundingSet")
	return nil
}

// verifyUnit runs systemd-analyze verify on the installed unit and returns
// what it complained of, "" if nothing: it exits 0 on many problems it
// only reports.
func verifyUnit(root string) string {
	out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "weftd.service").CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err != nil {
		msg = fmt.Sprintf("%v: %s", err, msg)
	}
	return msg
}

func svcLogSize(t *testing.T, s *svcWeftd) int64 {
	fi, err := os.Stat(s.Log)
	svcNoErr(t, err)
	return fi.Size()
}

func svcLogSince(t *testing.T, s *svcWeftd, mark int64) string {
	b, err := os.ReadFile(s.Log)
	svcNoErr(t, err)
	return string(b[mark:])
}

// requireTools fails or skips the test, as requireRoot does, when a command
// is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
				t.Fatalf("cannot run: %s is missing", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
}

func svcRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := nstest.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func svcNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
