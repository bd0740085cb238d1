//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// report is the JSON written to -out, and the source of the Markdown table.
type report struct {
	Date    string    `json:"date"` // RFC 3339, UTC, when the run ended
	Elapsed float64   `json:"elapsed_seconds"`
	Machine machine   `json:"machine"`
	Commit  string    `json:"commit,omitempty"` // git describe of the working tree
	Config  config    `json:"config"`
	Notes   []string  `json:"notes"`
	Summary []summary `json:"summary"` // one per stream count
	Samples []sample  `json:"samples"`
}

// machine says where the numbers come from.
type machine struct {
	NProc     int    `json:"nproc"`
	Kernel    string `json:"kernel"` // uname -r
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
}

// summary is the medians over rounds for one stream count.
type summary struct {
	Streams             int       `json:"streams"`
	KernelMedianBps     float64   `json:"kernel_median_bits_per_second"`
	WeftMedianBps       float64   `json:"weft_median_bits_per_second"`
	Ratios              []float64 `json:"weft_over_kernel"` // per round with both samples
	RatioMedian         float64   `json:"weft_over_kernel_median"`
	WeftdCPUPerGBMedian float64   `json:"weftd_cpu_seconds_per_gb_median"`
}

var notes = []string{
	"iperf3 TCP container to container across two namespaced hosts; Gbit/s is end.sum_received.bits_per_second",
	"both modes: the veths' default offloads, overlay MTU 1450",
	"each round builds a fresh topology per mode; rounds interleave kernel, weft",
	"weftd runs with --log-level info",
	"weftd CPU: utime+stime of both hosts' weftd over the iperf3 client's lifetime, per 1e9 bytes received",
}

func newReport(cfg config, samples []sample, elapsed time.Duration) *report {
	rep := &report{
		Date: time.Now().UTC().Format(time.RFC3339), Elapsed: elapsed.Round(time.Second).Seconds(),
		Machine: describeMachine(), Commit: gitDescribe(), Config: cfg, Notes: notes, Samples: samples,
	}
	for _, p := range cfg.Streams {
		rep.Summary = append(rep.Summary, summarize(samples, p, cfg.Rounds))
	}
	return rep
}

// summarize takes the medians of the good samples with p streams.
func summarize(samples []sample, p, rounds int) summary {
	s := summary{Streams: p}
	var k, w, cpu []float64
	for round := 1; round <= rounds; round++ {
		ks, kok := find(samples, round, modeKernel, p)
		ws, wok := find(samples, round, modeWeft, p)
		if kok {
			k = append(k, ks.BitsPerSecond)
		}
		if wok {
			w = append(w, ws.BitsPerSecond)
			if ws.WeftdCPUPerGB > 0 {
				cpu = append(cpu, ws.WeftdCPUPerGB)
			}
		}
		if r, ok := ratio(ws.BitsPerSecond, ks.BitsPerSecond); kok && wok && ok {
			s.Ratios = append(s.Ratios, r)
		}
	}
	s.KernelMedianBps, s.WeftMedianBps = median(k), median(w)
	s.RatioMedian, s.WeftdCPUPerGBMedian = median(s.Ratios), median(cpu)
	return s
}

// find returns the good sample of one round, mode and stream count.
func find(samples []sample, round int, mode string, p int) (sample, bool) {
	for _, s := range samples {
		if s.Round == round && s.Mode == mode && s.Streams == p && s.Error == "" {
			return s, true
		}
	}
	return sample{}, false
}

// median returns the median of xs, the mean of the middle two for an even
// count, and 0 for none. xs is not changed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio returns a/b, and false when b is not positive.
func ratio(a, b float64) (float64, bool) {
	if b <= 0 {
		return 0, false
	}
	return a / b, true
}

// markdown renders the per-round table and medians for each stream count.
func (rep *report) markdown() string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "## weft vs kernel VXLAN: iperf3 TCP, %d round(s) of %d s\n\n", rep.Config.Rounds, rep.Config.Duration)
	fmt.Fprintf(&b, "%s, %s, %d CPUs (%s), Linux %s\n\n", rep.Date, rep.Commit, m.NProc, m.CPUModel, m.Kernel)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	for _, s := range rep.Summary {
		fmt.Fprintf(&b, "\n| P=%d round | kernel Gbit/s | weft Gbit/s | weft/kernel | weftd CPU s/GB |\n|---|---:|---:|---:|---:|\n", s.Streams)
		for round := 1; round <= rep.Config.Rounds; round++ {
			ks, kok := find(rep.Samples, round, modeKernel, s.Streams)
			ws, wok := find(rep.Samples, round, modeWeft, s.Streams)
			r, rok := ratio(ws.BitsPerSecond, ks.BitsPerSecond)
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", round,
				cell(ks.BitsPerSecond/1e9, kok), cell(ws.BitsPerSecond/1e9, wok),
				cell(r, kok && wok && rok), cell(ws.WeftdCPUPerGB, ws.WeftdCPUPerGB > 0))
		}
		fmt.Fprintf(&b, "| **median** | **%s** | **%s** | **%s** | **%s** |\n",
			cell(s.KernelMedianBps/1e9, s.KernelMedianBps > 0), cell(s.WeftMedianBps/1e9, s.WeftMedianBps > 0),
			cell(s.RatioMedian, len(s.Ratios) > 0), cell(s.WeftdCPUPerGBMedian, s.WeftdCPUPerGBMedian > 0))
	}
	for _, s := range rep.Samples {
		if s.BusyBefore > busyWarn {
			fmt.Fprintf(&b, "\nwarning: round %d %s P=%d: the CPUs were %.0f%% busy just before the test; something else is loading the machine\n",
				s.Round, s.Mode, s.Streams, 100*s.BusyBefore)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "\nround %d %s P=%d failed: %s\n", s.Round, s.Mode, s.Streams, s.Error)
		}
	}
	return b.String()
}

// busyWarn is the share of CPU time busy before a test, with the topology
// idle, above which the report warns of other load.
const busyWarn = 0.15

func cell(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// write saves the report as DIR/bench-<date>.json.
func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	name := filepath.Join(dir, "bench-"+strings.ReplaceAll(rep.Date, ":", "")+".json")
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", name)
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
