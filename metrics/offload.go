package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Offload is an offload weftd can use. Its String is the Prometheus label
// value.
type Offload uint8

// The offloads weftd uses where the kernel has them and the flags allow.
const (
	// OffloadUDPSegment: underlay sends hand the kernel runs of datagrams
	// to one peer as one UDP_SEGMENT message.
	OffloadUDPSegment Offload = iota
	// OffloadUDPGRO: underlay reads take runs the kernel coalesced
	// (UDP_GRO) as one message.
	OffloadUDPGRO
	// OffloadTAP: the TAPs' virtio-net offloads, by which containers' TCP
	// crosses the TAP as super-frames of up to 64 KB.
	OffloadTAP
	numOffloads
)

var offloadNames = [numOffloads]string{"udp_segment", "udp_gro", "tap"}

// String returns the offload as a Prometheus label value.
func (o Offload) String() string {
	if o < numOffloads {
		return offloadNames[o]
	}
	return "unknown"
}

// Offloads is whether each offload is in use, and how many times the kernel
// refused it. The daemon sets them when it opens the data path and records
// refusals as they happen; a scrape reads them. The zero Offloads has every
// offload off and none refused. All methods are safe for concurrent use.
type Offloads struct {
	on      [numOffloads]atomic.Bool
	refused [numOffloads]atomic.Uint64
}

// Set records whether o is in use, as configured and granted at start.
func (s *Offloads) Set(o Offload, on bool) {
	s.on[o].Store(on)
}

// Refuse records that the kernel refused o: it is off from now on. It
// reports whether this is o's first refusal, which the caller logs.
func (s *Offloads) Refuse(o Offload) (first bool) {
	s.on[o].Store(false)
	return s.refused[o].Add(1) == 1
}

// Enabled reports whether o is in use.
func (s *Offloads) Enabled(o Offload) bool {
	return s.on[o].Load()
}

const (
	offloadEnabledHelp = "1 if weftd uses the offload, 0 if it is off: turned off by a flag (--udp-offload=false, " +
		"--tap-offload=false, --tap-driver=water) or refused by the kernel (see weft_offload_refusals_total and the WARN in weftd's log). " +
		"kind: udp_segment (underlay sends of several datagrams per message), udp_gro (underlay reads of coalesced runs), " +
		"tap (TCP super-frames over the TAPs; one for all networks, as the kernel grants it to every TAP or to none)."
	offloadRefusalsHelp = "Times the kernel refused an offload weftd asked for, turning it off: at most once for udp_segment and udp_gro, " +
		"once per TAP opened for tap. Offloads turned off by a flag are not counted."
)

var (
	descOffloadEnabled  = prometheus.NewDesc("weft_offload_enabled", offloadEnabledHelp, []string{"kind"}, nil)
	descOffloadRefusals = prometheus.NewDesc("weft_offload_refusals_total", offloadRefusalsHelp, []string{"kind"}, nil)
)

// collect reports every offload's state and refusals.
func (s *Offloads) collect(ch chan<- prometheus.Metric) {
	for o := range numOffloads {
		ch <- prometheus.MustNewConstMetric(descOffloadEnabled, prometheus.GaugeValue, boolFloat(s.Enabled(o)), o.String())
		ch <- counter(descOffloadRefusals, s.refused[o].Load(), o.String())
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
