//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// runner runs the rounds and keeps their samples.
type runner struct {
	cfg     config
	scratch string // logs, sockets and state of the labs
	bin     string // weftd and weft
	samples []sample
}

// sample is one iperf3 test.
type sample struct {
	Round         int     `json:"round"`
	Mode          string  `json:"mode"`
	Streams       int     `json:"streams"`
	MTU           int     `json:"overlay_mtu,omitempty"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	Retransmits   int     `json:"retransmits"`
	BusyBefore    float64 `json:"busy_before"`                        // share of all CPUs busy in the half second before the test
	WeftdCPU      float64 `json:"weftd_cpu_seconds,omitempty"`        // both hosts' weftd, user+system
	WeftdCPUPerGB float64 `json:"weftd_cpu_seconds_per_gb,omitempty"` // per 1e9 bytes received
	Error         string  `json:"error,omitempty"`
}

// all runs every round, prints the table and writes the JSON report, even
// when interrupted part way.
func (r *runner) all(ctx context.Context) error {
	if r.bin == "" {
		if err := r.build(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	var errs []error
rounds:
	for round := 1; round <= r.cfg.Rounds; round++ {
		for _, mode := range modes {
			if ctx.Err() != nil {
				break rounds
			}
			if err := r.round(ctx, mode, round); err != nil {
				fmt.Fprintf(os.Stderr, "bench: round %d %s: %v\n", round, mode, err)
				errs = append(errs, fmt.Errorf("round %d %s: %w", round, mode, err))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("stopped early: %w", context.Cause(ctx)))
	}
	rep := newReport(r.cfg, r.samples, time.Since(start))
	fmt.Print(rep.markdown())
	if err := rep.write(r.cfg.Out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// round builds mode's topology, runs a test per stream count and tears the
// topology down.
func (r *runner) round(ctx context.Context, mode string, round int) (err error) {
	dir := filepath.Join(r.scratch, fmt.Sprintf("r%d-%s", round, mode))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t, err := build(mode, r.bin, dir)
	if t != nil {
		defer func() { err = errors.Join(err, t.lab.Close()) }()
	}
	if err != nil {
		return err
	}
	for i, streams := range r.cfg.Streams {
		if ctx.Err() != nil {
			return nil
		}
		s := r.test(ctx, t, mode, round, streams, 5201+i)
		r.samples = append(r.samples, s)
		if s.Error != "" {
			err = errors.Join(err, errors.New(s.Error))
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: round %d %-6s P=%d  %6.2f Gbit/s\n", round, mode, streams, s.BitsPerSecond/1e9)
	}
	return err
}

// test runs one iperf3 test and, in mode weft, counts weftd's CPU time.
func (r *runner) test(ctx context.Context, t *topology, mode string, round, streams, port int) sample {
	s := sample{Round: round, Mode: mode, Streams: streams, MTU: t.mtu}
	s.BusyBefore, _ = busyFraction(500 * time.Millisecond)
	cpu0, cpuErr := cpuSeconds(t.weftd)
	res, err := iperf(ctx, t, port, streams, r.cfg.Duration)
	cpu1, cpuErr1 := cpuSeconds(t.weftd)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.BitsPerSecond, s.Bytes, s.Seconds, s.Retransmits = res.BitsPerSecond, res.Bytes, res.Seconds, res.Retransmits
	if len(t.weftd) > 0 && cpuErr == nil && cpuErr1 == nil && res.Bytes > 0 {
		s.WeftdCPU = cpu1 - cpu0
		s.WeftdCPUPerGB = s.WeftdCPU / (float64(res.Bytes) / 1e9)
	}
	return s
}

// build compiles weftd and weft from the module in the working directory,
// so that the run measures the code as it is.
func (r *runner) build(ctx context.Context) error {
	r.bin = filepath.Join(r.scratch, "bin")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", r.bin+"/", "./cmd/...")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/...: %w\n%s", err, out)
	}
	return nil
}
