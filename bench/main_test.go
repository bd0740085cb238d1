//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

func TestParseRates(t *testing.T) {
	got, err := parseRates("200M, 1.2G,2400000000")
	want := []float64{200e6, 1.2e9, 2.4e9}
	if err != nil || len(got) != len(want) {
		t.Fatalf("parseRates = %v, %v; want %v, nil", got, err, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-3 {
			t.Fatalf("parseRates = %v; want %v", got, want)
		}
	}
	for _, bad := range []string{"", "x", "1G,500M", "1G,1G", "500k", "200T", "1.2GG", "-1G", "NaN"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q): got no error; want one", bad)
		}
	}
}

func TestParseModes(t *testing.T) {
	got, err := parseModes("weft, kernel,weft")
	if err != nil || strings.Join(got, ",") != "kernel,weft" {
		t.Fatalf("parseModes = %v, %v; want [kernel weft] (in run order, once each), nil", got, err)
	}
	if _, err := parseModes("kernel,wireguard"); err == nil {
		t.Fatal("parseModes of an unknown mode: got no error; want one")
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		args                          []string
		rounds, duration, sweep, pngs int
		rates                         int
	}{
		{"full", nil, 3, 3, 2, 300, 6},
		{"quick", []string{"-quick"}, 1, 2, 1, 100, 3},
		{"quick keeps what is given", []string{"-quick", "-rounds", "2", "-rates", "1G"}, 2, 2, 1, 100, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			got := []int{c.Rounds, c.Duration, c.SweepDuration, c.Pings, len(c.Rates)}
			want := []int{tc.rounds, tc.duration, tc.sweep, tc.pngs, tc.rates}
			if !slices.Equal(got, want) {
				t.Fatalf("rounds, duration, sweep duration, pings, rates = %v; want %v", got, want)
			}
			if len(c.Modes) != len(allModes) || c.Timeout <= 0 || c.Timeout > time.Hour {
				t.Fatalf("modes %v, timeout %s; want all modes and a timeout within an hour", c.Modes, c.Timeout)
			}
		})
	}
	for _, bad := range [][]string{{"-rounds", "0"}, {"-pings", "1"}, {"-duration", "0"}, {"-modes", "x"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q): got no error; want one", bad)
		}
	}
}

// iperfUDPSample is the output of iperf3 3.12 -c -u -l 1350 -b 500M -t 1 -J,
// trimmed to its end summaries.
const iperfUDPSample = `{
	"start": {"version": "iperf 3.12", "test_start": {"protocol": "UDP", "num_streams": 1, "blksize": 1350}},
	"intervals": [],
	"end": {
		"streams": [{"udp": {"bytes": 62461800, "packets": 46268, "lost_packets": 1099, "lost_percent": 2.375291778334918, "sender": true}}],
		"sum": {"start": 0, "end": 1.000171, "seconds": 1.000171, "bytes": 62461800, "bits_per_second": 499631446.4377488,
			"jitter_ms": 0.0034, "lost_packets": 1099, "packets": 46268, "lost_percent": 2.375291778334918, "sender": true},
		"sum_sent": {"start": 0, "end": 1.000126, "seconds": 1.000126, "bytes": 62461800, "bits_per_second": 499631446.4377488,
			"jitter_ms": 0, "lost_packets": 0, "packets": 46268, "lost_percent": 0, "sender": true},
		"sum_received": {"start": 0, "end": 1.000171, "seconds": 1.000171, "bytes": 60978150, "bits_per_second": 487741796.1528579,
			"jitter_ms": 0.0034, "lost_packets": 1099, "packets": 46268, "lost_percent": 2.375291778334918, "sender": false}
	}
}`

func TestParseIperfUDP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    udpResult
		wantErr bool
	}{
		{"sample", iperfUDPSample, udpResult{487741796.1528579, 60978150, 1.000171, 46268, 1099, 2.375291778334918}, false},
		{"refused", `{"start": {}, "end": {}, "error": "unable to connect to server: Connection refused"}`, udpResult{}, true},
		{"no summary", `{"end": {}}`, udpResult{}, true},
		{"more lost than sent", `{"end": {"sum_received": {"packets": 1, "lost_packets": 2}}}`, udpResult{}, true},
		{"empty", ``, udpResult{}, true},
		{"truncated", iperfUDPSample[:300], udpResult{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseIperfUDP([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseIperfUDP = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	got, _ := parseIperfUDP([]byte(iperfUDPSample))
	if pps, want := got.ReceivedPPS(), float64(46268-1099)/1.000171; math.Abs(pps-want) > 1e-6 {
		t.Fatalf("ReceivedPPS = %v; want %v", pps, want)
	}
	if pps := (udpResult{Packets: 10}).ReceivedPPS(); pps != 0 {
		t.Fatalf("ReceivedPPS of a zero-second test = %v; want 0", pps)
	}
}

func FuzzParseIperfUDP(f *testing.F) {
	f.Add([]byte(iperfUDPSample))
	f.Add([]byte(`{"end": {"sum_received": {"packets": 3, "lost_packets": 1}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseIperfUDP(b)
		if err == nil && (r.LostPackets < 0 || r.LostPackets > r.Packets || r.ReceivedPPS() < 0) {
			t.Fatalf("parseIperfUDP accepted %+v", r)
		}
	})
}

// pingOutput is iputils 20221126's ping -n -c 5 -i 0.01 with one reply
// missing and one late.
const pingOutput = `PING 198.19.1.11 (198.19.1.11) 56(84) bytes of data.
64 bytes from 198.19.1.11: icmp_seq=1 ttl=64 time=0.081 ms
64 bytes from 198.19.1.11: icmp_seq=2 ttl=64 time=0.050 ms
64 bytes from 198.19.1.11: icmp_seq=4 ttl=64 time=1.25 ms
64 bytes from 198.19.1.11: icmp_seq=5 ttl=64 time=0.064 ms

--- 198.19.1.11 ping statistics ---
5 packets transmitted, 4 received, 20% packet loss, time 41ms
rtt min/avg/max/mdev = 0.050/0.361/1.250/0.513 ms
`

func TestParsePingRTTs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []float64
	}{
		{"replies", pingOutput, []float64{0.081, 0.050, 1.25, 0.064}},
		{"none", "PING 198.19.1.11 (198.19.1.11) 56(84) bytes of data.\n\n--- 198.19.1.11 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2041ms\n", nil},
		{"below resolution", "64 bytes from 198.19.1.11: icmp_seq=1 ttl=64 time<0.001 ms\n", []float64{0.001}},
		{"garbage", "64 bytes from x: time=abc ms\n64 bytes from x: time=-1 ms\ntime=NaN ms\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parsePingRTTs(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("parsePingRTTs = %v; want %v", got, tc.want)
			}
		})
	}
	st := summarizeRTTs(5, parsePingRTTs(pingOutput))
	if want := (rttStats{Sent: 5, Received: 4, P50: 0.064, P99: 1.25, Max: 1.25}); st != want {
		t.Fatalf("summarizeRTTs = %+v; want %+v", st, want)
	}
}

func FuzzParsePingRTTs(f *testing.F) {
	f.Add(pingOutput)
	f.Fuzz(func(t *testing.T, out string) {
		for _, v := range parsePingRTTs(out) {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("parsePingRTTs returned %v", v)
			}
		}
	})
}

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"none", nil, 50, 0},
		{"one", []float64{7}, 99, 7},
		{"p50 of four", []float64{1, 2, 3, 4}, 50, 2},
		{"p50 of five", []float64{1, 2, 3, 4, 5}, 50, 3},
		{"p99 of five", []float64{1, 2, 3, 4, 5}, 99, 5},
		{"p99 of 100", hundred, 99, 99},
		{"p100 of 100", hundred, 100, 100},
		{"p0 is the least", hundred, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Fatalf("percentile(%v, %v) = %v; want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func udpStep(offered, received, lost float64) sample {
	return sample{Test: testUDP, Length: sweepLength, OfferedBps: offered, BitsPerSecond: received, LostPercent: lost}
}

func TestSweepValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  []sample
		want   float64
		wantOK bool
	}{
		{"stops at the first loss", []sample{udpStep(200e6, 199e6, 0), udpStep(400e6, 398e6, 0.5), udpStep(800e6, 600e6, 25)}, 398e6, true},
		{"exactly the limit passes", []sample{udpStep(200e6, 199e6, 0), udpStep(400e6, 396e6, maxLoss)}, 396e6, true},
		{"passing after a loss", []sample{udpStep(200e6, 190e6, 5), udpStep(400e6, 399e6, 0)}, 399e6, true},
		{"the sender falls behind", []sample{udpStep(1.2e9, 0.82e9, 0), udpStep(2.4e9, 0.62e9, 0)}, 0.82e9, true},
		{"every rate passes", []sample{udpStep(200e6, 200e6, 0), udpStep(2.4e9, 2.39e9, 0)}, 2.39e9, true},
		{"nothing passes", []sample{udpStep(200e6, 100e6, 50)}, 0, true},
		{"failed steps do not count", []sample{udpStep(200e6, 199e6, 0), {Test: testUDP, OfferedBps: 400e6, Error: "timeout"}}, 199e6, true},
		{"no sweep", []sample{{Test: testTCP, Streams: 1, BitsPerSecond: 1e9}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := sweepValue(tc.steps); got != tc.want || ok != tc.wantOK {
				t.Fatalf("sweepValue = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// roundSamples is one topology's samples in a made-up run.
func roundSamples(round int, mode string, tcp1, pps, p50 float64, cpu float64) []sample {
	return []sample{
		{Round: round, Mode: mode, Test: testPing, RTT: &rttStats{Sent: 10, Received: 10, P50: p50, P99: 2 * p50}},
		{Round: round, Mode: mode, Test: testTCP, Streams: 1, BitsPerSecond: tcp1, Bytes: 1e9, WeftdCPUPerGB: cpu},
		{Round: round, Mode: mode, Test: testTCP, Streams: 4, Error: "iperf3: timeout"},
		{Round: round, Mode: mode, Test: testUDP, OfferedBps: 200e6, BitsPerSecond: tcp1 / 10, LostPercent: 0},
		{Round: round, Mode: mode, Test: testPPS, Length: ppsLength, PPS: pps},
	}
}

// fakeRun is three rounds of kernel and weft, weft's third round lost.
func fakeRun() []sample {
	var ss []sample
	ss = append(ss, roundSamples(1, modeKernel, 10e9, 400e3, 0.05, 0)...)
	ss = append(ss, roundSamples(1, modeWeft, 5e9, 100e3, 0.1, 2)...)
	ss = append(ss, roundSamples(2, modeKernel, 8e9, 300e3, 0.04, 0)...)
	ss = append(ss, roundSamples(2, modeWeft, 6e9, 150e3, 0.12, 4)...)
	ss = append(ss, roundSamples(3, modeKernel, 12e9, 500e3, 0.06, 0)...)
	return ss
}

func TestSummarize(t *testing.T) {
	modes := []string{modeKernel, modeWeft}
	byKey := map[string]metricSummary{}
	for _, m := range metrics([]int{1, 4}) {
		byKey[m.Key] = summarize(m, modes, 3, fakeRun())
	}
	for _, tc := range []struct {
		key         string
		mode        string
		median      float64
		ratios      []float64
		ratioMedian float64
	}{
		{"tcp_p1_bps", modeKernel, 10e9, nil, 0},
		{"tcp_p1_bps", modeWeft, 5.5e9, []float64{0.5, 0.75}, 0.625},
		{"tcp_p4_bps", modeWeft, 0, nil, 0},
		{"udp_1350_bps", modeWeft, 0.55e9, []float64{0.5, 0.75}, 0.625},
		{"udp_64_pps", modeWeft, 125e3, []float64{0.25, 0.5}, 0.375},
		{"rtt_p50_ms", modeWeft, 0.11, []float64{2, 3}, 2.5},
		{"rtt_p99_ms", modeWeft, 0.22, []float64{2, 3}, 2.5},
		{"weftd_cpu_s_per_gb_tcp_p1", modeKernel, 0, nil, 0},
		{"weftd_cpu_s_per_gb_tcp_p1", modeWeft, 3, nil, 0},
	} {
		t.Run(tc.key+"/"+tc.mode, func(t *testing.T) {
			sum, ok := byKey[tc.key]
			if !ok {
				t.Fatalf("no metric %s", tc.key)
			}
			x := sum.Modes[slices.Index(modes, tc.mode)]
			if !near(x.Median, tc.median) || !near(x.RatioMedian, tc.ratioMedian) || len(x.Ratios) != len(tc.ratios) {
				t.Fatalf("median %v, ratios %v (median %v); want %v, %v (%v)", x.Median, x.Ratios, x.RatioMedian, tc.median, tc.ratios, tc.ratioMedian)
			}
			for i := range tc.ratios {
				if !near(x.Ratios[i], tc.ratios[i]) {
					t.Fatalf("ratios %v; want %v", x.Ratios, tc.ratios)
				}
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// fakeReport is a report of fakeRun, with nothing read from this machine.
func fakeReport() *report {
	cfg := config{Modes: []string{modeKernel, modeWeft}, Rounds: 3, Duration: 3, SweepDuration: 2,
		Streams: []int{1, 4}, Rates: []float64{200e6}, Pings: 10}
	rep := &report{Date: "2026-11-21T08:00:00Z", Machine: machine{NProc: 2, CPUModel: "Test CPU", Kernel: "6.1.0"},
		Commit: "abc1234", Config: cfg, Notes: notes(cfg), Samples: fakeRun(),
		Topologies: []topoInfo{{Round: 1, Mode: modeKernel, MTU: 1450}, {Round: 1, Mode: modeWeft, MTU: 1450, BusyBefore: 0.5},
			{Round: 3, Mode: modeWeft, Error: "weftd on h1 not ready"}}}
	for _, m := range metrics(cfg.Streams) {
		rep.Metrics = append(rep.Metrics, summarize(m, cfg.Modes, cfg.Rounds, rep.Samples))
	}
	return rep
}

func TestMarkdown(t *testing.T) {
	md := fakeReport().markdown()
	for _, want := range []string{
		"| metric | unit | kernel | weft |\n|---|---|---:|---:|\n",
		"| TCP, 1 stream | Gbit/s | 10.00 | 5.50 (0.62×) |\n", // 0.625 rounds to even
		"| TCP, 4 streams | Gbit/s | — | — |\n",
		"| UDP 64 B, received | kpps | 400 | 125 (0.38×) |\n",
		"| ping RTT p50 | ms | 0.050 | 0.110 (2.50×) |\n",
		"| weftd CPU, TCP 1 stream | s/GB | — | 3.00 |\n",
		"Container MTU: kernel 1450, weft 1450.",
		"round 3 weft: no topology: weftd on h1 not ready",
		"warning: round 1 weft: the CPUs were 50% busy",
		"round 1 kernel: TCP P=4 failed: iperf3: timeout",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q; got:\n%s", want, md)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	rep := fakeReport()
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Samples) != len(rep.Samples) || len(back.Metrics) != len(rep.Metrics) {
		t.Fatalf("results.json: %d samples, %d metrics, %v; want %d, %d, nil", len(back.Samples), len(back.Metrics), err, len(rep.Samples), len(rep.Metrics))
	}
	if md, err := os.ReadFile(filepath.Join(dir, "results.md")); err != nil || string(md) != rep.markdown() {
		t.Fatalf("results.md is not the report's markdown (%v)", err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "chart.png"))
	if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("chart.png: %d bytes, %v; want a PNG", len(png), err)
	}
}

func TestChartNeedsRatios(t *testing.T) {
	rep := fakeReport()
	rep.Config.Modes = []string{modeKernel}
	if err := rep.chart(filepath.Join(t.TempDir(), "chart.png")); err == nil {
		t.Fatal("chart of the baseline alone: got no error; want one")
	}
}
