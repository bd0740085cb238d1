//go:build linux

package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// binDir holds the weftd, weft and weft-cni built for this run.
var binDir string

// skipReason is set when the tests cannot run here; with
// WEFT_REQUIRE_ROOT_TESTS=1 (as CI sets) that is a failure instead of a skip.
var skipReason string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// -short (make unit) means the tests that need no root; as root
		// these would build namespaces, unlocked, beside another run.
		fmt.Println("integration tests skipped under -short")
		return 0
	}
	if os.Geteuid() != 0 {
		skipReason = "integration tests need root"
	} else if missing := missingTools(); missing != "" {
		skipReason = "integration tests need " + missing
	}
	if skipReason == "" {
		dir, err := os.MkdirTemp("", "weft-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/weftnet/weft/cmd/weftd", "github.com/weftnet/weft/cmd/weft", "github.com/weftnet/weft/cmd/weft-cni").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build weftd and weft: %v\n%s", err, out)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

func missingTools() string {
	var missing []string
	for _, tool := range []string{"ip", "bridge", "ping", "iperf3", "ethtool", "sysctl", "nft", "dig", "tcpdump", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return strings.Join(missing, ", ")
}

// newLab makes a lab for one test and removes it when the test ends, even on
// failure. The namespace prefix is unique per test.
func newLab(t *testing.T, prefix string) *nstest.Lab {
	t.Helper()
	requireRoot(t)
	lab, err := nstest.New(prefix, binDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("clean up lab: %v", err)
		}
	})
	return lab
}

// requireRoot skips the test where integration tests cannot run, or fails it
// when WEFT_REQUIRE_ROOT_TESTS=1 (as `make test` sets for root, and so CI).
func requireRoot(t *testing.T) {
	t.Helper()
	if skipReason == "" {
		return
	}
	if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
		t.Fatalf("cannot run: %s", skipReason)
	}
	t.Skip(skipReason)
}

// dumpLogsOnFailure prints the daemons' logs when the test has failed.
func dumpLogsOnFailure(t *testing.T, ds ...*nstest.Weftd) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, d := range ds {
			t.Log(d.Diagnose())
		}
	})
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func underlay(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}) }

// cli runs the weft CLI against d and fails the test if it fails.
func cli(t *testing.T, d *nstest.Weftd, args ...string) string {
	t.Helper()
	out, err := d.CLI(args...)
	if err != nil {
		t.Fatalf("weft %s on %s: %v", strings.Join(args, " "), d.Name, err)
	}
	return out
}

// host makes a lab host running weftd, with extra weftd flags if given.
func host(t *testing.T, lab *nstest.Lab, name string, i int, extra ...string) *nstest.Weftd {
	t.Helper()
	h, err := lab.Host(name, underlay(i))
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.StartWeftd(extra...)
	if err != nil {
		t.Fatal(err)
	}
	dumpLogsOnFailure(t, d)
	return d
}

// container makes a container namespace and attaches it to a network on d.
func container(t *testing.T, d *nstest.Weftd, name, network, ip string) string {
	t.Helper()
	ns, err := d.Lab.Container(name)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"attach", "--network", network, "--name", name}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	cli(t, d, append(args, ns)...)
	return ns
}

// ping pings dst from ns and fails the test unless every reply comes back.
func ping(t *testing.T, ns, dst string, extra ...string) {
	t.Helper()
	args := append([]string{"ping", "-c", "3", "-i", "0.2", "-W", "2"}, extra...)
	out, err := nstest.Exec(ns, append(args, dst)...)
	if err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping %s from %s: %v\n%s", dst, ns, err, out)
	}
}

// iperfPort gives every iperf3 run its own port, so that a server from an
// earlier run that is still exiting never collides with the next one.
var iperfPort atomic.Int32

// iperf runs a short iperf3 TCP test from client to server's address and
// returns the receiver's bits per second. reverse makes the server send.
func iperf(t *testing.T, lab *nstest.Lab, server, serverIP, client string, reverse bool) float64 {
	t.Helper()
	port := strconv.Itoa(int(5201 + iperfPort.Add(1)))
	log := filepath.Join(lab.Dir(), "iperf3-"+server+"-"+port+".log")
	if _, err := lab.Start(server, log, "iperf3", "-s", "-1", "-B", serverIP, "-p", port); err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	if err := nstest.WaitListening(context.Background(), server, p, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	args := []string{"timeout", "30", "iperf3", "-c", serverIP, "-p", port, "-t", "2", "-J", "--connect-timeout", "3000"}
	if reverse {
		args = append(args, "-R")
	}
	out, err := nstest.Exec(client, args...)
	res, perr := nstest.ParseIperf([]byte(out))
	if err != nil || perr != nil || res.BitsPerSecond <= 0 {
		t.Fatalf("iperf3 from %s to %s: %v, %v\n%s", client, serverIP, err, perr, tail(out, 20))
	}
	t.Logf("iperf3 %s -> %s (reverse=%v): %.0f Mbit/s", client, serverIP, reverse, res.BitsPerSecond/1e6)
	return res.BitsPerSecond
}
