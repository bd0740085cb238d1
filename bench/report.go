//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// report is results.json, and the source of results.md and chart.png.
type report struct {
	Date       string          `json:"date"` // RFC 3339, UTC, when the run ended
	Elapsed    float64         `json:"elapsed_seconds"`
	Machine    machine         `json:"machine"`
	Commit     string          `json:"commit,omitempty"` // git describe of the working tree
	Config     config          `json:"config"`
	Notes      []string        `json:"notes"`
	Metrics    []metricSummary `json:"metrics"`
	Topologies []topoInfo      `json:"topologies"`
	Samples    []sample        `json:"samples"`
}

// machine says where the numbers come from.
type machine struct {
	NProc     int    `json:"nproc"`
	Kernel    string `json:"kernel"` // uname -r
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Iperf3    string `json:"iperf3,omitempty"` // iperf3 --version, first line
}

func newReport(cfg config, topos []topoInfo, samples []sample, elapsed time.Duration) *report {
	rep := &report{
		Date: time.Now().UTC().Format(time.RFC3339), Elapsed: elapsed.Round(time.Second).Seconds(),
		Machine: describeMachine(), Commit: gitDescribe(), Config: cfg, Notes: notes(cfg),
		Topologies: topos, Samples: samples,
	}
	for _, m := range metrics(cfg.Streams) {
		rep.Metrics = append(rep.Metrics, summarize(m, cfg.Modes, cfg.Rounds, samples))
	}
	return rep
}

// notes say how the numbers were taken.
func notes(cfg config) []string {
	return []string{
		"c1 on host h1 sends to c2 on host h2; hosts are namespaces on one underlay bridge; every mode keeps the veths' default offloads",
		"veth: no tunnel; each host routes the other container's address to the other host (IP forwarding, proxy ARP on the container's veth), container MTU 1500",
		"kernel: kernel VXLAN, static peers, bridged with the container's veth; weft: weftd static-peer network, fast path (TAP offloads, UDP_SEGMENT/UDP_GRO); weft-encrypted: weftd two-node cluster, attachable --encrypted network (ESP, AES-GCM); weft-portable: weft with --tap-driver water; weft-no-offload: weft with --tap-offload=false --udp-offload=false; weft-2queues: weft with --queues 2; weftd at --log-level info",
		"rounds interleave the modes in the order of the columns, each with a fresh topology; a ratio is value / kernel VXLAN's value in the same round, and the table shows the median of the ratios",
		"TCP: iperf3 -P n, Gbit/s received (end.sum_received)",
		fmt.Sprintf("UDP 1350 B: iperf3 -u -l 1350 -w %s at offered rates %s Gbit/s for %d s each, ascending, up to the first with more than %g%% lost (the receiver's count); the value is the most Gbit/s received at any rate with at most %g%% lost (0: none); where one iperf3 sender cannot reach the offered rate it is the sender's limit, and a mode that carries the top rate is limited by the sweep",
			udpBuffer, rateList(cfg.Rates), cfg.SweepDuration, maxLoss, maxLoss),
		fmt.Sprintf("UDP 64 B: iperf3 -u -l 64 -w %s -b 0 (one sender as fast as it can), datagrams received per second", udpBuffer),
		fmt.Sprintf("RTT: %d pings %s apart on the idle topology; nearest-rank percentiles of every reply", cfg.Pings, pingInterval),
		"weftd CPU: user+system time of both hosts' weftd over the iperf3 client's lifetime per 1e9 bytes received; the kernel's own tunnel work is not attributed to any process, so modes veth and kernel have none (results.json has every test's machine-wide busy CPU seconds)",
		"lower is better for RTT and CPU, higher for the rest",
	}
}

func rateList(rates []float64) string {
	var s []string
	for _, r := range rates {
		s = append(s, fmt.Sprintf("%g", r/1e9))
	}
	return strings.Join(s, ", ")
}

// write saves results.json, results.md and chart.png in dir.
func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	errs := []error{
		os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644),
		os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.markdown()), 0o644),
		rep.chart(filepath.Join(dir, "chart.png")),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write reports to %s: %w", dir, err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote results.json, results.md and chart.png to %s\n", dir)
	return nil
}

func describeMachine() machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(string(b))
	}
	if out, err := exec.Command("iperf3", "--version").Output(); err == nil {
		m.Iperf3, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return m
}

// cpuModel returns the first "model name" in the text of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// gitDescribe names the commit measured, with -dirty for local changes.
func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
