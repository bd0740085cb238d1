// Package metrics holds weft's counters and serves them to Prometheus.
//
// The data plane increments plain atomic counters; nothing on the packet path
// touches a Prometheus type. A Collector reads the counters at scrape time.
package metrics

import "sync/atomic"

// Reason is why a packet was dropped. Its String is the Prometheus label value.
type Reason uint8

// Drop reasons. Underlay reasons are counted before a network is known;
// the others are counted against the network the frame belongs to.
const (
	// DropShort: an underlay datagram too short for a VXLAN header.
	DropShort Reason = iota
	// DropBadFlags: a VXLAN header whose flags or reserved bits are wrong.
	DropBadFlags
	// DropUnknownVNI: a VNI that no network on this host carries.
	DropUnknownVNI
	// DropTruncated: an inner frame shorter than an Ethernet header.
	DropTruncated
	// DropOversize: a frame larger than the network's MTU allows.
	DropOversize
	// DropNoDestination: a frame with no VTEP to go to.
	DropNoDestination
	// DropSendError: the underlay refused a datagram.
	DropSendError
	// DropTapError: the TAP device refused a frame.
	DropTapError
	// DropLearnLimit: a frame whose sender was not learned because the
	// network holds as many learned FDB rows as it may. The frame itself is
	// delivered, as the kernel's VXLAN would; the count is of frames, not
	// of MACs, so a sender left out counts once per frame.
	DropLearnLimit
	// DropNoKey: a frame of an encrypted network for a peer it has no
	// security association with yet: never sent in the clear.
	DropNoKey
	// DropCleartext: cleartext VXLAN for an encrypted network.
	DropCleartext
	// DropUnknownSPI: an ESP datagram of no security association here.
	DropUnknownSPI
	// DropReplay: an ESP datagram seen before, or left of the replay window.
	DropReplay
	// DropBadTag: an ESP datagram whose integrity check failed.
	DropBadTag
	// DropMalformed: a datagram or frame that does not parse: an ESP
	// datagram shorter than a header, trailer and ICV or with a bad trailer,
	// one sealed for one network that claims another, or a frame from an
	// offloaded TAP whose virtio-net header does not match it.
	DropMalformed
	// DropBadChecksum: a received TCP segment that would have been
	// coalesced with the next but whose checksum is wrong: damaged on the
	// way, or sent with its checksum left to an offload nobody performed.
	DropBadChecksum
	numReasons
)

var reasonNames = [numReasons]string{
	"short", "bad_flags", "unknown_vni", "truncated", "oversize",
	"no_destination", "send_error", "tap_error", "learn_limit",
	"no_key", "cleartext", "unknown_spi", "replay", "bad_tag", "malformed",
	"bad_checksum",
}

// String returns the reason as a Prometheus label value.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every drop reason, in order.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Counters are the traffic counters of one network, or of the underlay.
// All methods are safe for concurrent use and never allocate.
type Counters struct {
	RxPackets, RxBytes atomic.Uint64 // frames delivered to the network's TAP
	TxPackets, TxBytes atomic.Uint64 // frames sent to the underlay, per copy
	drops              [numReasons]atomic.Uint64
}

// Drop adds n drops for reason r.
func (c *Counters) Drop(r Reason, n uint64) {
	c.drops[r].Add(n)
}

// Drops returns the drops counted for reason r.
func (c *Counters) Drops(r Reason) uint64 {
	return c.drops[r].Load()
}
