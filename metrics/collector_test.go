package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// filled returns a registry with one network, blue (VNI 42), one peer,
// 198.18.0.2:4789, and some traffic, drops and batches counted.
func filled() *Registry {
	r := NewRegistry()
	c := r.Network("blue", 42)
	c.RxPackets.Add(3)
	c.RxBytes.Add(300)
	c.TxPackets.Add(5)
	c.TxBytes.Add(500)
	c.Drop(DropOversize, 2)
	c.Drop(DropNoDestination, 1)
	r.Underlay.Drop(DropUnknownVNI, 7)
	r.Underlay.Drop(DropShort, 1)
	r.Peers.Set([]netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:4789")})
	r.Peers.Sender(netip.MustParseAddrPort("198.18.0.2:4789")).AddRx(2, 200, time.Unix(1700000000, 0).UnixNano())
	r.Peers.Destination(netip.MustParseAddrPort("198.18.0.2:4789")).AddTx(4, 400)
	r.Peers.Sender(netip.MustParseAddrPort("198.18.0.9:4789")).AddRx(1, 50, time.Unix(1700000001, 0).UnixNano())
	r.Batches.Observe(TapRead, 1)
	r.Batches.Observe(UDPRead, 3)
	r.Batches.Observe(UDPRead, 64)
	r.Batches.Observe(UDPWrite, 300)
	r.Offloads.Set(OffloadUDPSegment, true)
	r.Offloads.Set(OffloadUDPGRO, true)
	r.Offloads.Refuse(OffloadUDPGRO)
	r.Offloads.Set(OffloadTAP, false)
	return r
}

const wantNetwork = `
# HELP weft_network_drops_total Frames of a network dropped, by reason.
# TYPE weft_network_drops_total counter
weft_network_drops_total{network="blue",reason="bad_checksum",vni="42"} 0
weft_network_drops_total{network="blue",reason="bad_tag",vni="42"} 0
weft_network_drops_total{network="blue",reason="cleartext",vni="42"} 0
weft_network_drops_total{network="blue",reason="learn_limit",vni="42"} 0
weft_network_drops_total{network="blue",reason="malformed",vni="42"} 0
weft_network_drops_total{network="blue",reason="no_destination",vni="42"} 1
weft_network_drops_total{network="blue",reason="no_key",vni="42"} 0
weft_network_drops_total{network="blue",reason="oversize",vni="42"} 2
weft_network_drops_total{network="blue",reason="replay",vni="42"} 0
weft_network_drops_total{network="blue",reason="send_error",vni="42"} 0
weft_network_drops_total{network="blue",reason="tap_error",vni="42"} 0
weft_network_drops_total{network="blue",reason="truncated",vni="42"} 0
# HELP weft_network_rx_bytes_total Bytes of inner frames delivered to the network's containers.
# TYPE weft_network_rx_bytes_total counter
weft_network_rx_bytes_total{network="blue",vni="42"} 300
# HELP weft_network_rx_packets_total Frames received from the underlay and delivered to the network's containers.
# TYPE weft_network_rx_packets_total counter
weft_network_rx_packets_total{network="blue",vni="42"} 3
# HELP weft_network_tx_bytes_total Bytes of inner frames handed to the underlay, one per destination VTEP, including any it refused (see send_error drops).
# TYPE weft_network_tx_bytes_total counter
weft_network_tx_bytes_total{network="blue",vni="42"} 500
# HELP weft_network_tx_packets_total Encapsulated frames the underlay accepted, one per destination VTEP.
# TYPE weft_network_tx_packets_total counter
weft_network_tx_packets_total{network="blue",vni="42"} 5
`

const wantUnderlay = `
# HELP weft_underlay_drops_total Underlay datagrams dropped before their network was known, by reason.
# TYPE weft_underlay_drops_total counter
weft_underlay_drops_total{reason="bad_flags"} 0
weft_underlay_drops_total{reason="short"} 1
weft_underlay_drops_total{reason="truncated"} 0
weft_underlay_drops_total{reason="unknown_spi"} 0
weft_underlay_drops_total{reason="unknown_vni"} 7
`

const wantPeers = `
# HELP weft_peer_last_seen_timestamp_seconds Unix time of the last datagram accepted from the peer VTEP; absent until one is.
# TYPE weft_peer_last_seen_timestamp_seconds gauge
weft_peer_last_seen_timestamp_seconds{peer="198.18.0.2:4789"} 1.7e+09
weft_peer_last_seen_timestamp_seconds{peer="other"} 1.700000001e+09
# HELP weft_peer_rx_bytes_total Bytes of UDP payload (VXLAN or ESP) accepted from the peer VTEP.
# TYPE weft_peer_rx_bytes_total counter
weft_peer_rx_bytes_total{peer="198.18.0.2:4789"} 200
weft_peer_rx_bytes_total{peer="other"} 50
# HELP weft_peer_rx_packets_total Underlay datagrams accepted from the peer VTEP ("other": from VTEPs that are not configured peers).
# TYPE weft_peer_rx_packets_total counter
weft_peer_rx_packets_total{peer="198.18.0.2:4789"} 2
weft_peer_rx_packets_total{peer="other"} 1
# HELP weft_peer_tx_bytes_total Bytes of UDP payload (VXLAN or ESP) handed to the underlay for the peer VTEP.
# TYPE weft_peer_tx_bytes_total counter
weft_peer_tx_bytes_total{peer="198.18.0.2:4789"} 400
weft_peer_tx_bytes_total{peer="other"} 0
# HELP weft_peer_tx_packets_total Underlay datagrams handed to the underlay for the peer VTEP, including any it refused (see send_error drops).
# TYPE weft_peer_tx_packets_total counter
weft_peer_tx_packets_total{peer="198.18.0.2:4789"} 4
weft_peer_tx_packets_total{peer="other"} 0
`

const wantBatch = `
# HELP weft_batch_size Frames or datagrams moved per batched call: per TAP read, per underlay read, per underlay write.
# TYPE weft_batch_size histogram
weft_batch_size_bucket{direction="tap_read",le="1"} 1
weft_batch_size_bucket{direction="tap_read",le="2"} 1
weft_batch_size_bucket{direction="tap_read",le="4"} 1
weft_batch_size_bucket{direction="tap_read",le="8"} 1
weft_batch_size_bucket{direction="tap_read",le="16"} 1
weft_batch_size_bucket{direction="tap_read",le="32"} 1
weft_batch_size_bucket{direction="tap_read",le="64"} 1
weft_batch_size_bucket{direction="tap_read",le="128"} 1
weft_batch_size_bucket{direction="tap_read",le="256"} 1
weft_batch_size_bucket{direction="tap_read",le="+Inf"} 1
weft_batch_size_sum{direction="tap_read"} 1
weft_batch_size_count{direction="tap_read"} 1
weft_batch_size_bucket{direction="udp_read",le="1"} 0
weft_batch_size_bucket{direction="udp_read",le="2"} 0
weft_batch_size_bucket{direction="udp_read",le="4"} 1
weft_batch_size_bucket{direction="udp_read",le="8"} 1
weft_batch_size_bucket{direction="udp_read",le="16"} 1
weft_batch_size_bucket{direction="udp_read",le="32"} 1
weft_batch_size_bucket{direction="udp_read",le="64"} 2
weft_batch_size_bucket{direction="udp_read",le="128"} 2
weft_batch_size_bucket{direction="udp_read",le="256"} 2
weft_batch_size_bucket{direction="udp_read",le="+Inf"} 2
weft_batch_size_sum{direction="udp_read"} 67
weft_batch_size_count{direction="udp_read"} 2
weft_batch_size_bucket{direction="udp_write",le="1"} 0
weft_batch_size_bucket{direction="udp_write",le="2"} 0
weft_batch_size_bucket{direction="udp_write",le="4"} 0
weft_batch_size_bucket{direction="udp_write",le="8"} 0
weft_batch_size_bucket{direction="udp_write",le="16"} 0
weft_batch_size_bucket{direction="udp_write",le="32"} 0
weft_batch_size_bucket{direction="udp_write",le="64"} 0
weft_batch_size_bucket{direction="udp_write",le="128"} 0
weft_batch_size_bucket{direction="udp_write",le="256"} 0
weft_batch_size_bucket{direction="udp_write",le="+Inf"} 1
weft_batch_size_sum{direction="udp_write"} 300
weft_batch_size_count{direction="udp_write"} 1
`

const wantOffload = `
# HELP weft_offload_enabled ` + offloadEnabledHelp + `
# TYPE weft_offload_enabled gauge
weft_offload_enabled{kind="tap"} 0
weft_offload_enabled{kind="udp_gro"} 0
weft_offload_enabled{kind="udp_segment"} 1
# HELP weft_offload_refusals_total ` + offloadRefusalsHelp + `
# TYPE weft_offload_refusals_total counter
weft_offload_refusals_total{kind="tap"} 0
weft_offload_refusals_total{kind="udp_gro"} 1
weft_offload_refusals_total{kind="udp_segment"} 0
`

func TestCollect(t *testing.T) {
	r := filled()
	if err := testutil.CollectAndCompare(r, strings.NewReader(wantNetwork+wantUnderlay+wantPeers+wantBatch+wantOffload)); err != nil {
		t.Error(err)
	}
	for name, c := range map[string]prometheus.Collector{"registry": r, "build info": BuildInfo()} {
		if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
			t.Errorf("lint %s: got %v, %v; want no problems", name, problems, err)
		}
	}
}

func TestCollectAfterChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Registry)
		want   int // series of weft_network_rx_packets_total
	}{
		{"empty", func(r *Registry) { r.Remove("blue") }, 0},
		{"second network", func(r *Registry) { r.Network("red", 43) }, 2},
		{"same name and VNI keeps counters", func(r *Registry) { r.Network("blue", 42) }, 1},
		{"same name, new VNI replaces", func(r *Registry) { r.Network("blue", 44) }, 1},
		{"remove unknown", func(r *Registry) { r.Remove("green") }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := filled()
			tt.change(r)
			if got := testutil.CollectAndCount(r, "weft_network_rx_packets_total"); got != tt.want {
				t.Fatalf("rx packet series: got %d; want %d", got, tt.want)
			}
			if got := testutil.CollectAndCount(r, "weft_underlay_drops_total"); got != len(underlayReasons) {
				t.Fatalf("underlay drop series: got %d; want %d", got, len(underlayReasons))
			}
		})
	}
}

func TestNetworkCounters(t *testing.T) {
	r := NewRegistry()
	c := r.Network("blue", 42)
	if got := r.Network("blue", 42); got != c {
		t.Fatalf("Network twice: got %p; want the same %p", got, c)
	}
	c.TxPackets.Add(1)
	if got := r.Network("blue", 43); got == c || got.TxPackets.Load() != 0 {
		t.Fatalf("Network with a new VNI: got %p with %d tx packets; want fresh counters", got, got.TxPackets.Load())
	}
	r.Remove("blue")
	if got := r.Network("blue", 43); got.TxPackets.Load() != 0 {
		t.Fatalf("Network after Remove: got %d tx packets; want 0", got.TxPackets.Load())
	}
}

func TestReasonStrings(t *testing.T) {
	want := []string{"short", "bad_flags", "unknown_vni", "truncated", "oversize", "no_destination", "send_error", "tap_error",
		"learn_limit", "no_key", "cleartext", "unknown_spi", "replay", "bad_tag", "malformed", "bad_checksum"}
	rs := Reasons()
	if len(rs) != len(want) {
		t.Fatalf("Reasons: got %d; want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if got := r.String(); got != want[i] {
			t.Errorf("Reason(%d).String(): got %q; want %q", i, got, want[i])
		}
	}
	if got := Reason(200).String(); got != "unknown" {
		t.Errorf("Reason(200).String(): got %q; want %q", got, "unknown")
	}
	if n := len(underlayReasons) + len(networkReasons); n != len(rs)+1 {
		t.Errorf("underlay+network reasons: got %d; want every reason once, truncated twice (%d)", n, len(rs)+1)
	}
}

func TestCountersAllocs(t *testing.T) {
	var c Counters
	if n := testing.AllocsPerRun(100, func() { c.Drop(DropOversize, 1); c.TxPackets.Add(1) }); n != 0 {
		t.Fatalf("allocs: got %v; want 0", n)
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(filled(), extraCollector{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d; want 200", resp.StatusCode)
	}
	for _, line := range []string{
		`weft_network_tx_packets_total{network="blue",vni="42"} 5`,
		`weft_network_drops_total{network="blue",reason="oversize",vni="42"} 2`,
		`weft_underlay_drops_total{reason="unknown_vni"} 7`,
		`weft_peer_tx_packets_total{peer="198.18.0.2:4789"} 4`,
		`weft_batch_size_count{direction="udp_read"} 2`,
		`weft_fdb_entries{kind="mac",vni="42"} 3`,
		`# TYPE weft_build_info gauge`,
		`# TYPE go_goroutines gauge`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("body lacks %q:\n%s", line, body)
		}
	}
}

// extraCollector stands for the collectors a daemon adds to Handler.
type extraCollector struct{}

var descFDB = prometheus.NewDesc("weft_fdb_entries", "FDB rows.", []string{"vni", "kind"}, nil)

func (extraCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descFDB }

func (extraCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descFDB, prometheus.GaugeValue, 3, "42", "mac")
}

// TestRegister checks that a Registry registers cleanly beside the standard
// collectors, i.e. its descriptors are consistent with what it collects.
func TestRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(filled()); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("Gather: %v", err)
	}
}
