//go:build linux

package main

import (
	"fmt"
	"slices"
)

// metric is one number the report gives per mode and round, read from the
// samples of that mode and round.
type metric struct {
	Key      string  `json:"key"`
	Label    string  `json:"label"`
	Unit     string  `json:"unit"`
	Lower    bool    `json:"lower_is_better"`
	short    string  // under the chart's bars
	scale    float64 // the value shown in Unit is value/scale
	decimals int     // shown after the point
	// value reads the metric from one topology's samples; false when they
	// do not have it.
	value func([]sample) (float64, bool)
}

// metrics are the report's rows, for the stream counts the run tests.
func metrics(streams []int) []metric {
	var ms []metric
	for _, p := range streams {
		ms = append(ms, metric{Key: fmt.Sprintf("tcp_p%d_bps", p), Label: fmt.Sprintf("TCP, %d stream%s", p, plural(p)),
			short: fmt.Sprintf("TCP P=%d", p), Unit: "Gbit/s", scale: 1e9, decimals: 2, value: tcpValue(p)})
	}
	ms = append(ms,
		metric{Key: "udp_1350_bps", Label: "UDP 1350 B, highest rate with ≤ 1% loss", short: "UDP 1350 B\n≤ 1% loss", Unit: "Gbit/s",
			scale: 1e9, decimals: 2, value: sweepValue},
		metric{Key: "udp_64_pps", Label: "UDP 64 B, received", short: "UDP 64 B\npackets/s", Unit: "kpps", scale: 1e3, decimals: 0, value: ppsValue},
		metric{Key: "rtt_p50_ms", Label: "ping RTT p50", short: "RTT p50", Unit: "ms", Lower: true, scale: 1, decimals: 3, value: rttValue(func(r *rttStats) float64 { return r.P50 })},
		metric{Key: "rtt_p99_ms", Label: "ping RTT p99", short: "RTT p99", Unit: "ms", Lower: true, scale: 1, decimals: 3, value: rttValue(func(r *rttStats) float64 { return r.P99 })},
	)
	for _, p := range streams {
		ms = append(ms, metric{Key: fmt.Sprintf("weftd_cpu_s_per_gb_tcp_p%d", p), Label: fmt.Sprintf("weftd CPU, TCP %d stream%s", p, plural(p)),
			short: fmt.Sprintf("weftd CPU\nTCP P=%d", p), Unit: "s/GB", Lower: true, scale: 1, decimals: 2, value: cpuValue(p)})
	}
	return ms
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// first returns the first good sample that matches.
func first(ss []sample, match func(sample) bool) (sample, bool) {
	for _, s := range ss {
		if s.Error == "" && match(s) {
			return s, true
		}
	}
	return sample{}, false
}

func tcpValue(p int) func([]sample) (float64, bool) {
	return func(ss []sample) (float64, bool) {
		s, ok := first(ss, func(s sample) bool { return s.Test == testTCP && s.Streams == p })
		return s.BitsPerSecond, ok
	}
}

func cpuValue(p int) func([]sample) (float64, bool) {
	return func(ss []sample) (float64, bool) {
		s, ok := first(ss, func(s sample) bool { return s.Test == testTCP && s.Streams == p })
		return s.WeftdCPUPerGB, ok && s.WeftdCPUPerGB > 0
	}
}

func ppsValue(ss []sample) (float64, bool) {
	s, ok := first(ss, func(s sample) bool { return s.Test == testPPS })
	return s.PPS, ok
}

// rttValue reads one statistic of the ping run.
func rttValue(stat func(*rttStats) float64) func([]sample) (float64, bool) {
	return func(ss []sample) (float64, bool) {
		s, ok := first(ss, func(s sample) bool { return s.Test == testPing && s.RTT != nil })
		if !ok {
			return 0, false
		}
		return stat(s.RTT), true
	}
}

// sweepValue reads one topology's UDP sweep: the most received at any step
// that lost at most maxLoss; 0 when every step lost more, false when no step
// ran. It is the most received, not what the highest such offered rate
// received, because where one iperf3 sender cannot keep up with the offered
// rate it sends less the higher the rate it tries for.
func sweepValue(ss []sample) (float64, bool) {
	var best float64
	ran := false
	for _, s := range ss {
		if s.Test != testUDP || s.Error != "" {
			continue
		}
		ran = true
		if s.LostPercent <= maxLoss {
			best = max(best, s.BitsPerSecond)
		}
	}
	return best, ran
}

// metricSummary is one metric over every mode and round.
type metricSummary struct {
	metric
	Modes []modeSummary `json:"modes"`
}

// modeSummary is one metric of one mode over the rounds.
type modeSummary struct {
	Mode   string    `json:"mode"`
	Rounds []int     `json:"rounds"` // the rounds that have a value, in order
	Values []float64 `json:"values"` // one per entry of Rounds
	Median float64   `json:"median"`
	// Ratios are value / the baseline's value in the same round, for the
	// rounds that have both.
	Ratios      []float64 `json:"ratios_vs_kernel,omitempty"`
	RatioMedian float64   `json:"ratio_vs_kernel_median,omitempty"`
}

// summarize takes m for every mode and round from samples, with the
// per-round ratios to the baseline and the medians.
func summarize(m metric, modes []string, rounds int, samples []sample) metricSummary {
	sum := metricSummary{metric: m}
	for _, mode := range modes {
		ms := modeSummary{Mode: mode}
		for round := 1; round <= rounds; round++ {
			v, ok := m.value(pick(samples, round, mode))
			if !ok {
				continue
			}
			ms.Rounds, ms.Values = append(ms.Rounds, round), append(ms.Values, v)
			if mode == baseline {
				continue
			}
			if k, ok := m.value(pick(samples, round, baseline)); ok {
				if r, ok := ratio(v, k); ok {
					ms.Ratios = append(ms.Ratios, r)
				}
			}
		}
		ms.Median, ms.RatioMedian = median(ms.Values), median(ms.Ratios)
		sum.Modes = append(sum.Modes, ms)
	}
	return sum
}

// pick returns the samples of one mode in one round.
func pick(samples []sample, round int, mode string) []sample {
	var out []sample
	for _, s := range samples {
		if s.Round == round && s.Mode == mode {
			out = append(out, s)
		}
	}
	return out
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

// show formats a value of m in its unit.
func (m metric) show(v float64) string {
	return fmt.Sprintf("%.*f", m.decimals, v/m.scale)
}
