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
	topos   []topoInfo
	samples []sample
}

// topoInfo describes one topology: one mode in one round.
type topoInfo struct {
	Round      int     `json:"round"`
	Mode       string  `json:"mode"`
	MTU        int     `json:"container_mtu,omitempty"`
	Setup      float64 `json:"setup_seconds"` // to build it and see the first ping answered
	BusyBefore float64 `json:"busy_before"`   // share of all CPUs busy in the half second before its tests
	Error      string  `json:"error,omitempty"`
}

// all runs every round, prints the table and writes the reports, even when
// interrupted part way.
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
		for _, mode := range r.cfg.Modes {
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
	rep := newReport(r.cfg, r.topos, r.samples, time.Since(start))
	fmt.Print(rep.markdown())
	if err := rep.write(r.cfg.Out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// round builds mode's topology, runs its tests and tears it down.
func (r *runner) round(ctx context.Context, mode string, round int) (err error) {
	dir := filepath.Join(r.scratch, fmt.Sprintf("r%d-%s", round, mode))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	t, err := build(mode, r.bin, dir)
	if t != nil {
		defer func() { err = errors.Join(err, t.lab.Close()) }()
	}
	info := topoInfo{Round: round, Mode: mode, Setup: time.Since(start).Seconds()}
	if err != nil {
		info.Error = err.Error()
		r.topos = append(r.topos, info)
		return err
	}
	info.MTU = t.mtu
	info.BusyBefore, _ = busyFraction(500 * time.Millisecond)
	r.topos = append(r.topos, info)
	fmt.Fprintf(os.Stderr, "bench: round %d %-14s up in %.1f s, MTU %d\n", round, mode, info.Setup, t.mtu)
	return r.tests(ctx, t, mode, round)
}

// maxLoss is the highest share of datagrams lost, in percent, at which a
// rate of the UDP sweep counts as carried.
const maxLoss = 1.0

// Lengths of the UDP datagrams' payloads.
const (
	sweepLength = 1350 // fits every mode's MTU, the encrypted one too
	ppsLength   = 64
)

// tests runs one topology's tests in order: ping, TCP, the UDP sweep up to
// its first rate with more than maxLoss, and 64-byte UDP. It stops early when
// ctx ends, and returns the errors of the tests that failed.
func (r *runner) tests(ctx context.Context, t *topology, mode string, round int) error {
	var errs []error
	add := func(s sample) sample {
		s.Round, s.Mode = round, mode
		r.samples = append(r.samples, s)
		fmt.Fprintf(os.Stderr, "bench: round %d %-14s %s\n", round, mode, s.brief())
		if s.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", s.Test, s.Error))
		}
		return s
	}
	port := 5200
	next := func() int { port++; return port }
	if ctx.Err() == nil {
		add(r.ping(ctx, t))
	}
	for _, p := range r.cfg.Streams {
		if ctx.Err() == nil {
			add(r.measure(ctx, t, next(), testTCP, iperfTest{Streams: p, Seconds: r.cfg.Duration}))
		}
	}
	for _, rate := range r.cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		it := iperfTest{UDP: true, Length: sweepLength, Rate: rate, Seconds: r.cfg.SweepDuration}
		if s := add(r.measure(ctx, t, next(), testUDP, it)); s.Error != "" || s.LostPercent > maxLoss {
			break // higher rates lose more
		}
	}
	if ctx.Err() == nil {
		add(r.measure(ctx, t, next(), testPPS, iperfTest{UDP: true, Length: ppsLength, Seconds: r.cfg.Duration}))
	}
	return errors.Join(errs...)
}

// ping runs the RTT test.
func (r *runner) ping(ctx context.Context, t *topology) sample {
	s := sample{Test: testPing}
	st, err := pingRTT(ctx, t, r.cfg.Pings)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.RTT = &st
	return s
}

// measure runs one iperf3 test, counting the machine's busy CPU time and,
// in the weft modes, weftd's.
func (r *runner) measure(ctx context.Context, t *topology, port int, test string, it iperfTest) sample {
	s := sample{Test: test, Streams: it.Streams, Length: it.Length, OfferedBps: it.Rate}
	busy0, _, busyErr := procStatCPU()
	cpu0, cpuErr := cpuSeconds(t.weftd)
	out, err := iperf(ctx, t, port, it)
	cpu1, cpuErr1 := cpuSeconds(t.weftd)
	busy1, _, busyErr1 := procStatCPU()
	if err == nil {
		err = s.fill(it.UDP, out)
	}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	if busyErr == nil && busyErr1 == nil {
		s.BusySeconds = float64(busy1-busy0) / userHZ
	}
	if len(t.weftd) > 0 && cpuErr == nil && cpuErr1 == nil && s.Bytes > 0 {
		s.WeftdCPU = cpu1 - cpu0
		s.WeftdCPUPerGB = s.WeftdCPU / (float64(s.Bytes) / 1e9)
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
