package daemon

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
)

// Metrics the daemon exports beside the data plane's counters (see
// metrics.Registry): read at scrape time from the FDB, the gossip agent,
// the raft store and the keys held.
var (
	descFDBEntries = prometheus.NewDesc("weft_fdb_entries",
		"Rows of the forwarding database by VNI: kind=\"mac\" (MAC to VTEP), kind=\"ip\" (IP to MAC).", []string{"vni", "kind"}, nil)
	descGossipMembers = prometheus.NewDesc("weft_gossip_members",
		"Cluster members this node's gossip sees, itself included, by state; absent outside a cluster.", []string{"state"}, nil)
	descGossipDropped = prometheus.NewDesc("weft_gossip_dropped_total",
		"Gossip records, interests and leave notices from other nodes this node dropped, by reason: signature (not signed by the node they speak for), claim (a record of an endpoint or address the managers did not give its node), unverified (could not be checked within 30 s: a node or allocation unknown), future_version (a version more than a minute ahead of this node's clock); absent outside a cluster.", []string{"reason"}, nil)
	descRaftLeader = prometheus.NewDesc("weft_raft_leader",
		"1 if this manager is the raft leader, 0 otherwise; absent on workers and outside a cluster.", nil, nil)
	descRaftState = prometheus.NewDesc("weft_raft_state",
		"1 for this manager's current raft state, 0 for the others; absent on workers.", []string{"state"}, nil)
	descUnauthDropped = prometheus.NewDesc("weft_cluster_unauthenticated_conns_dropped_total",
		"Connections to 2377 without a node certificate (joins, or a flood of idle ones) this manager closed or refused because the cap on them was reached; absent on workers.", nil, nil)
	descRaftTerm = prometheus.NewDesc("weft_raft_term",
		"This manager's current raft term; absent on workers.", nil, nil)
	descRaftCommitIndex = prometheus.NewDesc("weft_raft_commit_index",
		"The highest raft log index this manager knows committed; absent on workers.", nil, nil)
	descRaftAppliedIndex = prometheus.NewDesc("weft_raft_applied_index",
		"The highest raft log index applied to this manager's state; absent on workers.", nil, nil)
	descDataKeyAge = prometheus.NewDesc("weft_data_key_age_seconds",
		"Age of each live data key generation of an encrypted network, since the managers created it.", []string{"network", "generation"}, nil)
	descGossipKeyAge = prometheus.NewDesc("weft_gossip_key_age_seconds",
		"Age of each gossip key generation in the managers' store, since it was created; absent on workers.", []string{"generation"}, nil)
)

// daemonCollector is the prometheus.Collector of the daemon's own metrics.
type daemonCollector struct{ d *Daemon }

// Describe implements prometheus.Collector.
func (daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descFDBEntries, descGossipMembers, descGossipDropped, descRaftLeader, descRaftState, descRaftTerm,
		descRaftCommitIndex, descRaftAppliedIndex, descDataKeyAge, descGossipKeyAge, descUnauthDropped,
	} {
		ch <- d
	}
}

// netKeyAges is what a scrape reads of one encrypted network's data keys.
type netKeyAges struct {
	network string
	keys    []store.Key
}

// Collect implements prometheus.Collector. It holds d.mu only to copy what
// it reads under it; the gossip agent and raft are asked afterwards.
func (m daemonCollector) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	c, rec := d.member.Current()
	d.mu.Lock()
	var vnis []uint32
	var keys []netKeyAges
	for _, n := range d.st.Networks {
		vnis = append(vnis, n.VNI)
		if n.Encrypted && rec != nil {
			keys = append(keys, netKeyAges{n.Name, rec.Keys(n.ID)})
		}
	}
	d.mu.Unlock()
	now := time.Now()
	m.collectFDB(ch, vnis)
	for _, k := range keys {
		collectKeyAges(ch, descDataKeyAge, k.keys, now, k.network)
	}
	if c != nil {
		collectCluster(ch, c, now)
	}
}

// collectFDB reports the FDB's rows of every VNI that has any, and zeros
// for the networks' VNIs that have none.
func (m daemonCollector) collectFDB(ch chan<- prometheus.Metric, vnis []uint32) {
	counts := m.d.fdb.CountByVNI()
	for _, vni := range vnis {
		if _, ok := counts[vni]; !ok {
			counts[vni] = fdb.Count{}
		}
	}
	for vni, n := range counts {
		v := strconv.FormatUint(uint64(vni), 10)
		ch <- gauge(descFDBEntries, n.MACs, v, "mac")
		ch <- gauge(descFDBEntries, n.IPs, v, "ip")
	}
}

// clusterStats is what a scrape reads of the cluster node (a
// *cluster.Node); every method answers from this node's own state.
type clusterStats interface {
	Agent() *gossip.Agent
	RaftStats() (store.RaftStats, bool)
	GossipKeyGenerations() []store.Key
	UnauthDropped() (uint64, bool)
}

// collectCluster reports gossip members and, on a manager, raft's state
// and the gossip keys' ages.
func collectCluster(ch chan<- prometheus.Metric, c clusterStats, now time.Time) {
	if a := c.Agent(); a != nil {
		counts := a.MemberCounts()
		for _, s := range gossip.MemberStates() {
			ch <- gauge(descGossipMembers, counts[s], s.String())
		}
		for reason, n := range a.Dropped() {
			ch <- prometheus.MustNewConstMetric(descGossipDropped, prometheus.CounterValue, float64(n), reason)
		}
	}
	st, ok := c.RaftStats()
	if !ok {
		return
	}
	ch <- gauge(descRaftLeader, boolInt(st.Leader))
	for _, s := range store.RaftStates() {
		ch <- gauge(descRaftState, boolInt(s == st.State), s)
	}
	ch <- gauge(descRaftTerm, st.Term)
	ch <- gauge(descRaftCommitIndex, st.CommitIndex)
	ch <- gauge(descRaftAppliedIndex, st.AppliedIndex)
	collectKeyAges(ch, descGossipKeyAge, c.GossipKeyGenerations(), now)
	if n, ok := c.UnauthDropped(); ok {
		ch <- prometheus.MustNewConstMetric(descUnauthDropped, prometheus.CounterValue, float64(n))
	}
}

// collectKeyAges reports the age at now of each key generation, labelled
// with labels and then the generation.
func collectKeyAges(ch chan<- prometheus.Metric, desc *prometheus.Desc, keys []store.Key, now time.Time, labels ...string) {
	for _, k := range keys {
		age := max(now.Sub(k.Created).Seconds(), 0)
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, age, append(labels, strconv.FormatUint(k.Generation, 10))...)
	}
}

func gauge[N int | uint64](d *prometheus.Desc, v N, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// offloadCosts says what going without each offload costs, for the WARN
// that reports it refused.
var offloadCosts = [...]string{
	metrics.OffloadUDPSegment: "each underlay datagram goes down the kernel's UDP and IP stack on its own, not in a run of up to 64",
	metrics.OffloadUDPGRO:     "each underlay datagram comes up the kernel's stack and out of recvmmsg on its own, not in a coalesced run",
	metrics.OffloadTAP:        "containers' TCP crosses the TAP in frames of the network's MTU, each read, encapsulated and written on its own, not in super-frames of up to 64 KB",
}

// offloadRefused records that the kernel refused an offload weftd asked
// for, with err: weft_offload_enabled goes to 0 and
// weft_offload_refusals_total up. The first refusal of each offload is
// logged at WARN with the error and what it costs; later ones (another
// network's TAP) at Debug. attrs say where it was refused.
func offloadRefused(log *slog.Logger, o *metrics.Offloads, kind metrics.Offload, err error, attrs ...any) {
	attrs = append([]any{"offload", kind.String(), "err", err}, attrs...)
	if o.Refuse(kind) {
		log.Warn("offload turned off: the kernel refused it", append(attrs, "cost", offloadCosts[kind])...)
		return
	}
	log.Debug("offload refused again", attrs...)
}

// underlayOffload is metrics' kind of one of the underlay socket's
// offloads.
func underlayOffload(o encap.Offload) metrics.Offload {
	if o == encap.OffloadGRO {
		return metrics.OffloadUDPGRO
	}
	return metrics.OffloadUDPSegment
}

// setOffloads records at start which offloads are in use: the underlay
// sockets' as the kernel granted them (every socket's), the TAPs' as
// configured, until the kernel refuses them to a TAP (see tapRefused).
func setOffloads(o *metrics.Offloads, cfg Config, socks []*encap.UDPConn) {
	gso, gro := true, true
	for _, s := range socks {
		g, r := s.Offload()
		gso, gro = gso && g, gro && r
	}
	o.Set(metrics.OffloadUDPSegment, gso)
	o.Set(metrics.OffloadUDPGRO, gro)
	o.Set(metrics.OffloadTAP, cfg.TapDriver == "linux" && cfg.TapOffload)
}

// tapRefused returns what TAPs tells when the kernel refuses a TAP's
// offloads: see offloadRefused.
func tapRefused(log *slog.Logger, o *metrics.Offloads) func(name string, err error) {
	return func(name string, err error) { offloadRefused(log, o, metrics.OffloadTAP, err, "tap", name) }
}
