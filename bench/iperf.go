//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// iperfTest is one iperf3 test from c1 to c2.
type iperfTest struct {
	UDP     bool
	Streams int     // TCP: parallel streams
	Length  int     // UDP: datagram payload bytes
	Rate    float64 // UDP: offered bits/s; 0 as fast as the sender can
	Seconds int
}

// udpBuffer is the socket buffer both ends of a UDP test ask for (iperf3
// -w, capped by net.core.rmem_max): with the default, the receiving iperf3
// itself drops bursts at a few hundred Mbit/s even on loopback.
const udpBuffer = "4M"

// args is the iperf3 client's command line after the server's address.
func (it iperfTest) args(port int) []string {
	a := []string{"-p", strconv.Itoa(port), "-t", strconv.Itoa(it.Seconds), "-J", "--connect-timeout", "3000"}
	if !it.UDP {
		return append(a, "-P", strconv.Itoa(it.Streams))
	}
	return append(a, "-u", "-w", udpBuffer, "-l", strconv.Itoa(it.Length),
		"-b", strconv.FormatFloat(it.Rate, 'f', 0, 64))
}

// iperf runs one test on port: a one-shot server in c2, the client in c1
// under a timeout. It returns the client's JSON report, which for UDP holds
// the server's counts too. The server goes with the lab if the client never
// reaches it.
func iperf(ctx context.Context, t *topology, port int, it iperfTest) ([]byte, error) {
	p := strconv.Itoa(port)
	log := filepath.Join(t.dir, fmt.Sprintf("iperf3-server-%d.log", port))
	if _, err := t.lab.Start(t.c2, log, "iperf3", "-s", "-1", "-p", p); err != nil {
		return nil, err
	}
	if err := nstest.WaitListening(ctx, t.c2, port, 5*time.Second); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(it.Seconds)*time.Second+20*time.Second)
	defer cancel()
	args := append([]string{"netns", "exec", t.c1, "iperf3", "-c", c2Addr.Addr().String()}, it.args(port)...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return out, fmt.Errorf("iperf3 client in %s: %w", t.c1, ctx.Err())
	}
	if err != nil && !json.Valid(out) {
		return out, fmt.Errorf("iperf3 client in %s: %w", t.c1, err)
	}
	return out, nil // iperf3 exits non-zero with a JSON error; the parser reports it
}

// udpResult is what the receiving end of an iperf3 UDP test counted.
type udpResult struct {
	BitsPerSecond float64 // end.sum_received.bits_per_second
	Bytes         int64   // end.sum_received.bytes
	Seconds       float64 // end.sum_received.seconds
	Packets       int64   // datagrams sent, as the receiver counts them (highest sequence number)
	LostPackets   int64   // of those, never received
	LostPercent   float64 // end.sum_received.lost_percent
}

// ReceivedPPS is the datagrams received per second.
func (u udpResult) ReceivedPPS() float64 {
	if u.Seconds <= 0 {
		return 0
	}
	return float64(u.Packets-u.LostPackets) / u.Seconds
}

// parseIperfUDP reads the receiver's summary from the JSON report of an
// iperf3 UDP client (iperf3 -u -J), which the server sends back at the end.
// A report that carries an error, or no receiver summary, is an error.
func parseIperfUDP(out []byte) (udpResult, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumReceived *struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Bytes         int64   `json:"bytes"`
				Seconds       float64 `json:"seconds"`
				Packets       int64   `json:"packets"`
				LostPackets   int64   `json:"lost_packets"`
				LostPercent   float64 `json:"lost_percent"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return udpResult{}, fmt.Errorf("iperf3 output is not JSON: %w", err)
	}
	if doc.Error != "" {
		return udpResult{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	r := doc.End.SumReceived
	if r == nil {
		return udpResult{}, errors.New("iperf3 output has no end.sum_received")
	}
	if r.Packets < 0 || r.LostPackets < 0 || r.LostPackets > r.Packets {
		return udpResult{}, fmt.Errorf("iperf3 counted %d of %d datagrams lost", r.LostPackets, r.Packets)
	}
	return udpResult{r.BitsPerSecond, r.Bytes, r.Seconds, r.Packets, r.LostPackets, r.LostPercent}, nil
}
