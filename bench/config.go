//go:build linux

package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is what the flags ask for.
type config struct {
	Modes         []string      `json:"modes"`                  // in the order each round runs them
	Rounds        int           `json:"rounds"`                 // rounds of every mode
	Duration      int           `json:"duration_seconds"`       // seconds per TCP and 64-byte UDP test
	SweepDuration int           `json:"sweep_duration_seconds"` // seconds per step of the UDP sweep
	Streams       []int         `json:"streams"`                // iperf3 -P values, each tested every round
	Rates         []float64     `json:"udp_rates_bps"`          // offered rates of the UDP sweep, ascending
	Pings         int           `json:"pings"`                  // echo requests per RTT test
	Quick         bool          `json:"quick"`                  // short defaults, about a minute
	Timeout       time.Duration `json:"-"`                      // deadline of the whole run
	Bin           string        `json:"-"`                      // weftd and weft; empty: build them
	Out           string        `json:"-"`                      // directory for the reports
}

// Defaults of a full run and of a quick one.
const (
	fullRates  = "200M,400M,800M,1.2G,1.6G,2.4G"
	quickRates = "400M,1G,2G"
)

// flags are the flag values before they are checked and converted.
type flags struct {
	modes, streams, rates string
}

func parseFlags(args []string) (config, error) {
	var c config
	var f flags
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&f.modes, "modes", joinList(allModes), "comma-separated modes to run, from "+joinList(allModes))
	fs.IntVar(&c.Rounds, "rounds", 3, "rounds, each running every mode once (quick: 1)")
	fs.IntVar(&c.Duration, "duration", 3, "seconds per TCP and 64-byte UDP test (quick: 2)")
	fs.IntVar(&c.SweepDuration, "sweep-duration", 2, "seconds per offered rate of the UDP sweep (quick: 1)")
	fs.StringVar(&f.streams, "P", "1,4", "comma-separated iperf3 TCP parallel stream counts")
	fs.StringVar(&f.rates, "rates", fullRates, "comma-separated offered rates of the 1350-byte UDP sweep, bits/s with k, M or G (quick: "+quickRates+")")
	fs.IntVar(&c.Pings, "pings", 300, "echo requests per RTT test, 10 ms apart (quick: 100)")
	fs.BoolVar(&c.Quick, "quick", false, "short defaults for the flags not given: about a minute")
	fs.DurationVar(&c.Timeout, "timeout", 0, "deadline of the whole run (0: twice the expected time plus two minutes)")
	fs.StringVar(&c.Bin, "bin", "", "directory holding weftd and weft (empty: build ./cmd/... into a scratch directory)")
	fs.StringVar(&c.Out, "out", "bench/out", "directory for results.json, results.md and chart.png")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Quick {
		quickDefaults(fs, &c, &f)
	}
	return c, c.finish(f)
}

// quickDefaults shortens whatever the command line left at its default.
func quickDefaults(fs *flag.FlagSet, c *config, f *flags) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	quick := []struct {
		name string
		do   func()
	}{
		{"rounds", func() { c.Rounds = 1 }},
		{"duration", func() { c.Duration = 2 }},
		{"sweep-duration", func() { c.SweepDuration = 1 }},
		{"pings", func() { c.Pings = 100 }},
		{"rates", func() { f.rates = quickRates }},
	}
	for _, q := range quick {
		if !set[q.name] {
			q.do()
		}
	}
}

// finish converts the list flags, checks every bound and sets the timeout.
func (c *config) finish(f flags) error {
	var err error
	if c.Modes, err = parseModes(f.modes); err != nil {
		return err
	}
	if c.Streams, err = parseStreams(f.streams); err != nil {
		return err
	}
	if c.Rates, err = parseRates(f.rates); err != nil {
		return err
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		return fmt.Errorf("invalid -rounds %d: want 1-100", c.Rounds)
	}
	if c.Duration < 1 || c.Duration > 600 || c.SweepDuration < 1 || c.SweepDuration > 600 {
		return fmt.Errorf("invalid -duration %d or -sweep-duration %d: want 1-600 s", c.Duration, c.SweepDuration)
	}
	if c.Pings < 10 || c.Pings > 100000 {
		return fmt.Errorf("invalid -pings %d: want 10-100000", c.Pings)
	}
	if c.Timeout == 0 {
		c.Timeout = 2*time.Minute + 2*expected(*c)
	}
	return nil
}

// expected is about how long the rounds take: each topology ten seconds to
// build and tear down, each test its duration plus a second, and every step
// of the UDP sweep.
func expected(c config) time.Duration {
	sec := 10 + float64(c.Pings)*pingInterval.Seconds() + 1
	sec += float64(len(c.Streams)+1) * float64(c.Duration+1)
	sec += float64(len(c.Rates)) * float64(c.SweepDuration+1)
	return time.Duration(float64(c.Rounds*len(c.Modes)) * sec * float64(time.Second))
}

// parseModes reads a list like "kernel,weft" and returns it in the order of
// allModes, each mode once.
func parseModes(s string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		m := strings.TrimSpace(f)
		if !slices.Contains(allModes, m) {
			return nil, fmt.Errorf("unknown mode %q in -modes %q: want some of %s", m, s, joinList(allModes))
		}
		want[m] = true
	}
	var out []string
	for _, m := range allModes {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
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

// parseRates reads a list of rates like "200M,1.2G" (decimal multiples, as
// iperf3 reads -b) into ascending bits per second, at most 20 of them.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		r, err := parseRate(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("invalid rate in -rates %q: %w", s, err)
		}
		if len(out) > 0 && r <= out[len(out)-1] {
			return nil, fmt.Errorf("invalid -rates %q: want ascending rates", s)
		}
		out = append(out, r)
	}
	if len(out) > 20 {
		return nil, fmt.Errorf("invalid -rates %q: want at most 20", s)
	}
	return out, nil
}

// parseRate reads one rate: a number of bits per second with an optional
// k, M or G suffix, between 1 Mbit/s and 100 Gbit/s.
func parseRate(s string) (float64, error) {
	orig, mult := s, 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, s = 1e3, s[:n-1]
		case 'm', 'M':
			mult, s = 1e6, s[:n-1]
		case 'g', 'G':
			mult, s = 1e9, s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	r := v * mult
	if err != nil || !(r >= 1e6 && r <= 100e9) { // NaN too
		return 0, fmt.Errorf("%q: want 1M to 100G", orig)
	}
	return r, nil
}

func joinList(xs []string) string { return strings.Join(xs, ",") }
