//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pingInterval is the gap between echo requests of an RTT test (below
// 200 ms, which ping allows root only).
const pingInterval = 10 * time.Millisecond

// rttStats summarizes one ping run.
type rttStats struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// pingRTT sends count echo requests from c1 to c2, pingInterval apart, and
// summarizes the round-trip time of every reply.
func pingRTT(ctx context.Context, t *topology, count int) (rttStats, error) {
	limit := time.Duration(count)*pingInterval + 15*time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	interval := strconv.FormatFloat(pingInterval.Seconds(), 'f', 3, 64)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", t.c1, "ping", "-n", "-c", strconv.Itoa(count),
		"-i", interval, "-W", "1", c2Addr.Addr().String())
	cmd.WaitDelay = time.Second
	out, err := cmd.Output() // ping exits 1 when some replies are missing; the count says how many
	if ctx.Err() != nil {
		return rttStats{}, fmt.Errorf("ping in %s: %w", t.c1, ctx.Err())
	}
	rtts := parsePingRTTs(string(out))
	if len(rtts) == 0 {
		return rttStats{}, fmt.Errorf("ping in %s: no replies: %w", t.c1, errors.Join(err, errors.New(lastLine(out))))
	}
	return summarizeRTTs(count, rtts), nil
}

// parsePingRTTs returns the time= of every reply line of ping's output, in
// milliseconds ("64 bytes from 198.19.1.11: icmp_seq=1 ttl=64 time=0.071 ms").
func parsePingRTTs(out string) []float64 {
	var rtts []float64
	for _, line := range strings.Split(out, "\n") {
		_, after, ok := strings.Cut(line, " time=")
		if !ok {
			_, after, ok = strings.Cut(line, " time<")
		}
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(after), " ")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			continue
		}
		rtts = append(rtts, v)
	}
	return rtts
}

// summarizeRTTs gives the percentiles of the replies to sent requests.
func summarizeRTTs(sent int, rtts []float64) rttStats {
	s := slices.Clone(rtts)
	slices.Sort(s)
	st := rttStats{Sent: sent, Received: len(s), P50: percentile(s, 50), P99: percentile(s, 99)}
	if len(s) > 0 {
		st.Max = s[len(s)-1]
	}
	return st
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest value with at least p% of the values at or below it; 0 for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// lastLine is the last non-empty line of out, for an error message.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
