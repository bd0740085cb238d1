//go:build linux

// Command bench measures weft's data plane against the kernel's own VXLAN
// device on the same machine: iperf3 TCP throughput from one container to
// another across two hosts, and the CPU time weftd spends per gigabyte.
//
// Each host is a network namespace on a shared underlay switch, and each
// carries one container namespace:
//
//	container → bridge → tunnel → veth underlay → tunnel → bridge → container
//
// In mode kernel the tunnel is a kernel VXLAN device (static peers, MTU 1450);
// in mode weft it is weftd (a static-peer network on VNI 42, MTU 1450 by
// default). Both modes keep the veths' default offloads, so both see the same
// underlay and the kernel runs as fast as it can here. Rounds alternate between the
// modes (kernel, weft, kernel, weft, …) and every round builds a fresh
// topology and tears it down afterwards. Addresses: underlay 198.18.0.0/16,
// overlay 198.19.1.0/24, nothing else.
//
// It prints a Markdown table of per-round throughput, medians and the
// weft/kernel ratio, and writes every sample with the machine's description
// as JSON to -out. It needs root:
//
//	go run ./bench            # 3 rounds of 5 s, 1 stream
//	go run ./bench -quick     # 1 round of 3 s
//	go run ./bench -P 1,4 -rounds 5 -duration 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what the flags ask for.
type config struct {
	Rounds   int           `json:"rounds"`           // rounds per mode
	Duration int           `json:"duration_seconds"` // seconds per iperf3 test
	Streams  []int         `json:"streams"`          // iperf3 -P values, each tested every round
	Quick    bool          `json:"quick"`            // 1 round of 3 s
	Timeout  time.Duration `json:"-"`                // deadline of the whole run
	Bin      string        `json:"-"`                // weftd and weft; empty: build them
	Out      string        `json:"-"`                // directory for the JSON report
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds per mode, interleaved kernel, weft, kernel, …")
	fs.IntVar(&c.Duration, "duration", 5, "seconds per iperf3 test")
	streams := fs.String("P", "1", "comma-separated iperf3 parallel stream counts, e.g. 1,4")
	fs.BoolVar(&c.Quick, "quick", false, "1 round of 3 s")
	fs.DurationVar(&c.Timeout, "timeout", 0, "deadline of the whole run (0: from rounds, streams and duration)")
	fs.StringVar(&c.Bin, "bin", "", "directory holding weftd and weft (empty: build ./cmd/... into a scratch directory)")
	fs.StringVar(&c.Out, "out", "bench/out", "directory for the JSON report")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Streams, err = parseStreams(*streams); err != nil {
		return c, err
	}
	if c.Quick {
		c.Rounds, c.Duration = 1, 3
	}
	if c.Rounds < 1 || c.Rounds > 100 || c.Duration < 1 || c.Duration > 600 {
		return c, fmt.Errorf("want 1-100 rounds of 1-600 s; got %d of %d s", c.Rounds, c.Duration)
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout(c)
	}
	return c, nil
}

// parseStreams reads a list like "1,4".
func parseStreams(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 128 {
			return nil, fmt.Errorf("invalid stream count %q in -P %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// defaultTimeout allows each topology a minute to build and each test its
// duration plus half a minute, and two minutes for building the binaries.
func defaultTimeout(c config) time.Duration {
	topologies := 2 * c.Rounds
	tests := topologies * len(c.Streams)
	return 2*time.Minute + time.Duration(topologies)*time.Minute +
		time.Duration(tests)*(time.Duration(c.Duration)*time.Second+30*time.Second)
}

func run(cfg config) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	go func() { <-ctx.Done(); stop() }() // a second ^C kills at once

	scratch, err := os.MkdirTemp("", "weft-bench-")
	if err != nil {
		return err
	}
	r := &runner{cfg: cfg, scratch: scratch, bin: cfg.Bin}
	err = r.all(ctx)
	if err == nil {
		os.RemoveAll(scratch)
	} else {
		fmt.Fprintf(os.Stderr, "bench: logs kept in %s\n", scratch)
	}
	return err
}
