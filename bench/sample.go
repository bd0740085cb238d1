//go:build linux

package main

import (
	"fmt"

	"github.com/weftnet/weft/internal/nstest"
)

// Kinds of test, as sample.Test names them.
const (
	testPing = "ping" // RTT
	testTCP  = "tcp"  // iperf3 TCP, sample.Streams streams
	testUDP  = "udp"  // one step of the 1350-byte UDP sweep, at sample.OfferedBps
	testPPS  = "pps"  // 64-byte UDP as fast as the sender can
)

// sample is one test of one topology.
type sample struct {
	Round         int       `json:"round"`
	Mode          string    `json:"mode"`
	Test          string    `json:"test"`
	Streams       int       `json:"streams,omitempty"`                 // tcp
	Length        int       `json:"length,omitempty"`                  // udp, pps: payload bytes per datagram
	OfferedBps    float64   `json:"offered_bits_per_second,omitempty"` // udp
	BitsPerSecond float64   `json:"bits_per_second,omitempty"`         // received
	Bytes         int64     `json:"bytes,omitempty"`                   // received
	Seconds       float64   `json:"seconds,omitempty"`
	Retransmits   int       `json:"retransmits,omitempty"`  // tcp
	Packets       int64     `json:"packets,omitempty"`      // udp, pps: sent, as the receiver counts them
	LostPackets   int64     `json:"lost_packets,omitempty"` // udp, pps
	LostPercent   float64   `json:"lost_percent,omitempty"` // udp, pps: the receiver's count
	PPS           float64   `json:"received_packets_per_second,omitempty"`
	RTT           *rttStats `json:"rtt,omitempty"`                      // ping
	BusySeconds   float64   `json:"machine_busy_cpu_seconds,omitempty"` // all CPUs' non-idle time during the test
	WeftdCPU      float64   `json:"weftd_cpu_seconds,omitempty"`        // both hosts' weftd, user+system
	WeftdCPUPerGB float64   `json:"weftd_cpu_seconds_per_gb,omitempty"` // per 1e9 bytes received
	Error         string    `json:"error,omitempty"`
}

// fill reads an iperf3 client's JSON report into s.
func (s *sample) fill(udp bool, out []byte) error {
	if !udp {
		res, err := nstest.ParseIperf(out)
		s.BitsPerSecond, s.Bytes, s.Seconds, s.Retransmits = res.BitsPerSecond, res.Bytes, res.Seconds, res.Retransmits
		return err
	}
	res, err := parseIperfUDP(out)
	s.BitsPerSecond, s.Bytes, s.Seconds = res.BitsPerSecond, res.Bytes, res.Seconds
	s.Packets, s.LostPackets, s.LostPercent, s.PPS = res.Packets, res.LostPackets, res.LostPercent, res.ReceivedPPS()
	return err
}

// brief describes s in one line for the progress log.
func (s sample) brief() string {
	var what string
	switch s.Test {
	case testPing:
		what = "ping"
	case testTCP:
		what = fmt.Sprintf("TCP P=%d", s.Streams)
	case testUDP:
		what = fmt.Sprintf("UDP %d B at %.2f Gbit/s", s.Length, s.OfferedBps/1e9)
	case testPPS:
		what = fmt.Sprintf("UDP %d B unlimited", s.Length)
	}
	if s.Error != "" {
		return what + " failed: " + s.Error
	}
	switch s.Test {
	case testPing:
		return fmt.Sprintf("%s %d/%d replies, p50 %.3f ms, p99 %.3f ms", what, s.RTT.Received, s.RTT.Sent, s.RTT.P50, s.RTT.P99)
	case testTCP:
		return fmt.Sprintf("%s %.2f Gbit/s%s", what, s.BitsPerSecond/1e9, s.cpuNote())
	case testUDP:
		return fmt.Sprintf("%s: %.2f Gbit/s received, %.2f%% lost%s", what, s.BitsPerSecond/1e9, s.LostPercent, s.cpuNote())
	default:
		return fmt.Sprintf("%s: %.0f kpps received, %.1f%% lost%s", what, s.PPS/1e3, s.LostPercent, s.cpuNote())
	}
}

func (s sample) cpuNote() string {
	if s.WeftdCPUPerGB <= 0 {
		return ""
	}
	return fmt.Sprintf(", weftd %.2f CPU s/GB", s.WeftdCPUPerGB)
}
