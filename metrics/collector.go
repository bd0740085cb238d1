package metrics

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the set of counters a daemon exports: one Counters per network
// and one for the underlay.
type Registry struct {
	// Underlay counts drops that happen before a datagram's network is known.
	Underlay Counters
	// Peers counts traffic per peer VTEP.
	Peers Peers
	// Batches is the histogram of batch sizes on the data path.
	Batches BatchSizes
	// Offloads is which offloads are in use, and the kernel's refusals.
	Offloads Offloads

	mu       sync.Mutex
	networks map[string]*network
}

type network struct {
	vni uint32
	c   *Counters
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{networks: make(map[string]*network)}
}

// Network returns the counters of the named network, creating them on first
// use. Call it when a network is set up, not per packet.
func (r *Registry) Network(name string, vni uint32) *Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.networks[name]; ok && n.vni == vni {
		return n.c
	}
	n := &network{vni: vni, c: new(Counters)}
	r.networks[name] = n
	return n.c
}

// Remove forgets the named network's counters.
func (r *Registry) Remove(name string) {
	r.mu.Lock()
	delete(r.networks, name)
	r.mu.Unlock()
}

var (
	descRxPackets = prometheus.NewDesc("weft_network_rx_packets_total",
		"Frames received from the underlay and delivered to the network's containers.", []string{"network", "vni"}, nil)
	descRxBytes = prometheus.NewDesc("weft_network_rx_bytes_total",
		"Bytes of inner frames delivered to the network's containers.", []string{"network", "vni"}, nil)
	descTxPackets = prometheus.NewDesc("weft_network_tx_packets_total",
		"Encapsulated frames the underlay accepted, one per destination VTEP.", []string{"network", "vni"}, nil)
	descTxBytes = prometheus.NewDesc("weft_network_tx_bytes_total",
		"Bytes of inner frames handed to the underlay, one per destination VTEP, including any it refused (see send_error drops).", []string{"network", "vni"}, nil)
	descNetDrops = prometheus.NewDesc("weft_network_drops_total",
		"Frames of a network dropped, by reason.", []string{"network", "vni", "reason"}, nil)
	descUnderlayDrops = prometheus.NewDesc("weft_underlay_drops_total",
		"Underlay datagrams dropped before their network was known, by reason.", []string{"reason"}, nil)
	descPeerRxPackets = prometheus.NewDesc("weft_peer_rx_packets_total",
		"Underlay datagrams accepted from the peer VTEP (\"other\": from VTEPs that are not configured peers).", []string{"peer"}, nil)
	descPeerRxBytes = prometheus.NewDesc("weft_peer_rx_bytes_total",
		"Bytes of UDP payload (VXLAN or ESP) accepted from the peer VTEP.", []string{"peer"}, nil)
	descPeerTxPackets = prometheus.NewDesc("weft_peer_tx_packets_total",
		"Underlay datagrams handed to the underlay for the peer VTEP, including any it refused (see send_error drops).", []string{"peer"}, nil)
	descPeerTxBytes = prometheus.NewDesc("weft_peer_tx_bytes_total",
		"Bytes of UDP payload (VXLAN or ESP) handed to the underlay for the peer VTEP.", []string{"peer"}, nil)
	descPeerLastSeen = prometheus.NewDesc("weft_peer_last_seen_timestamp_seconds",
		"Unix time of the last datagram accepted from the peer VTEP; absent until one is.", []string{"peer"}, nil)
	descBatchSize = prometheus.NewDesc("weft_batch_size",
		"Frames or datagrams moved per batched call: per TAP read, per underlay read, per underlay write.", []string{"direction"}, nil)
)

var allDescs = []*prometheus.Desc{
	descRxPackets, descRxBytes, descTxPackets, descTxBytes, descNetDrops, descUnderlayDrops,
	descPeerRxPackets, descPeerRxBytes, descPeerTxPackets, descPeerTxBytes, descPeerLastSeen, descBatchSize,
	descOffloadEnabled, descOffloadRefusals,
}

// Describe implements prometheus.Collector.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Every reason is reported, zeros
// included, so that rates work from the first scrape.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	for _, reason := range underlayReasons {
		ch <- counter(descUnderlayDrops, r.Underlay.Drops(reason), reason.String())
	}
	r.collectPeers(ch)
	r.collectBatches(ch)
	r.Offloads.collect(ch)
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, n := range r.networks {
		vni := strconv.FormatUint(uint64(n.vni), 10)
		ch <- counter(descRxPackets, n.c.RxPackets.Load(), name, vni)
		ch <- counter(descRxBytes, n.c.RxBytes.Load(), name, vni)
		ch <- counter(descTxPackets, n.c.TxPackets.Load(), name, vni)
		ch <- counter(descTxBytes, n.c.TxBytes.Load(), name, vni)
		for _, reason := range networkReasons {
			ch <- counter(descNetDrops, n.c.Drops(reason), name, vni, reason.String())
		}
	}
}

// underlayReasons are the reasons counted in Registry.Underlay.
var underlayReasons = []Reason{DropShort, DropBadFlags, DropTruncated, DropUnknownVNI, DropUnknownSPI}

// networkReasons are the reasons counted against a network. Truncated is in
// both: a runt from the TAP counts against its network.
var networkReasons = []Reason{
	DropTruncated, DropOversize, DropNoDestination, DropSendError, DropTapError, DropLearnLimit,
	DropNoKey, DropCleartext, DropReplay, DropBadTag, DropMalformed, DropBadChecksum,
}

// collectPeers reports every peer's counters, and the other bucket's.
func (r *Registry) collectPeers(ch chan<- prometheus.Metric) {
	for _, p := range r.Peers.Stats() {
		label := OtherPeer
		if p.Peer.IsValid() {
			label = p.Peer.String()
		}
		ch <- counter(descPeerRxPackets, p.RxPackets, label)
		ch <- counter(descPeerRxBytes, p.RxBytes, label)
		ch <- counter(descPeerTxPackets, p.TxPackets, label)
		ch <- counter(descPeerTxBytes, p.TxBytes, label)
		if !p.LastSeen.IsZero() {
			ch <- prometheus.MustNewConstMetric(descPeerLastSeen, prometheus.GaugeValue, float64(p.LastSeen.UnixNano())/1e9, label)
		}
	}
}

// collectBatches reports the batch size histogram of every direction.
func (r *Registry) collectBatches(ch chan<- prometheus.Metric) {
	for d := range numDirections {
		count, sum, buckets := r.Batches.snapshot(d)
		ch <- prometheus.MustNewConstHistogram(descBatchSize, count, float64(sum), buckets, d.String())
	}
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// Handler returns an http.Handler serving the registry's counters, and
// those of extra collectors, together with weft_build_info and the Go
// runtime and process collectors, in the Prometheus text format.
func Handler(r *Registry, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(r, BuildInfo(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
