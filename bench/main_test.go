//go:build linux

package main

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := median(in); got != tc.want {
				t.Fatalf("median(%v) = %v; want %v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("median reordered its input: got %v; want %v", in, tc.in)
				}
			}
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   float64
		want   float64
		wantOK bool
	}{
		{"half", 1, 2, 0.5, true},
		{"zero numerator", 0, 2, 0, true},
		{"zero denominator", 1, 0, 0, false},
		{"negative denominator", 1, -1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := ratio(tc.a, tc.b); got != tc.want || ok != tc.wantOK {
				t.Fatalf("ratio(%v, %v) = %v, %v; want %v, %v", tc.a, tc.b, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseStatTicks(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 120; the name has a space
	// and a parenthesis.
	stat := "4242 (we(ft d) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 120 0 0 20 0 9 0 100 0 0 18446744073709551615"
	got, err := parseStatTicks(stat)
	if err != nil || got != 370 {
		t.Fatalf("parseStatTicks = %d, %v; want 370, nil", got, err)
	}
	for _, bad := range []string{"", "4242 weftd S 1", "4242 (weftd) S 1 2 3"} {
		if _, err := parseStatTicks(bad); err == nil {
			t.Errorf("parseStatTicks(%q): got no error; want one", bad)
		}
	}
}

func TestParseStreams(t *testing.T) {
	got, err := parseStreams("1, 4")
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("parseStreams(\"1, 4\") = %v, %v; want [1 4], nil", got, err)
	}
	for _, bad := range []string{"", "0", "x", "1,,4", "129"} {
		if _, err := parseStreams(bad); err == nil {
			t.Errorf("parseStreams(%q): got no error; want one", bad)
		}
	}
}

func TestParseLinkMTU(t *testing.T) {
	out := "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n" +
		"2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 5a:1c:0e:7b:33:10 brd ff:ff:ff:ff:ff:ff link-netns wbench-h1\n"
	if got, ok := parseLinkMTU(out); !ok || got != 1450 {
		t.Fatalf("parseLinkMTU = %d, %v; want 1450, true", got, ok)
	}
	if _, ok := parseLinkMTU("1: lo: <LOOPBACK> mtu 65536\n"); ok {
		t.Fatal("parseLinkMTU of loopback only: got ok; want not ok")
	}
}

func TestSummarize(t *testing.T) {
	samples := []sample{
		{Round: 1, Mode: modeKernel, Streams: 1, BitsPerSecond: 10},
		{Round: 1, Mode: modeWeft, Streams: 1, BitsPerSecond: 5, WeftdCPUPerGB: 2},
		{Round: 2, Mode: modeKernel, Streams: 1, BitsPerSecond: 8},
		{Round: 2, Mode: modeWeft, Streams: 1, BitsPerSecond: 6, WeftdCPUPerGB: 4},
		{Round: 3, Mode: modeKernel, Streams: 1, BitsPerSecond: 12},
		{Round: 3, Mode: modeWeft, Streams: 1, Error: "iperf3: timeout"},
	}
	s := summarize(samples, 1, 3)
	if s.KernelMedianBps != 10 || s.WeftMedianBps != 5.5 || s.WeftdCPUPerGBMedian != 3 {
		t.Fatalf("medians = %v, %v, %v; want 10, 5.5, 3", s.KernelMedianBps, s.WeftMedianBps, s.WeftdCPUPerGBMedian)
	}
	if len(s.Ratios) != 2 || math.Abs(s.RatioMedian-0.625) > 1e-12 {
		t.Fatalf("ratios = %v, median %v; want [0.5 0.75], 0.625", s.Ratios, s.RatioMedian)
	}
}

func TestCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := cpuModel(info); got != "AMD EPYC 7B13" {
		t.Fatalf("cpuModel = %q; want %q", got, "AMD EPYC 7B13")
	}
}

func TestParseStatCPU(t *testing.T) {
	busy, total, err := parseStatCPU("cpu  100 5 50 800 20 3 2 10 0 0")
	if err != nil || busy != 170 || total != 990 {
		t.Fatalf("parseStatCPU = %d, %d, %v; want 170, 990, nil", busy, total, err)
	}
	if _, _, err := parseStatCPU("cpu0 1 2 3 4 5 6 7 8"); err == nil {
		t.Fatal("parseStatCPU of a per-CPU line: got no error; want one")
	}
}
