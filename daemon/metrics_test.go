package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/gossip/gossiptest"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/membership"
	"github.com/weftnet/weft/daemon/reconcile"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/metrics"
)

// metricsDaemon returns a daemon outside a cluster with three networks:
// blue (VNI 42) with FDB rows, red (VNI 43, encrypted) with two data key
// generations created 100 s and 3600 s before now, and green (VNI 44)
// with nothing.
func metricsDaemon(now time.Time) *Daemon {
	d := testDaemon()
	d.fdb = fdb.New()
	rec := reconcile.New(reconcile.Config{Log: slog.New(slog.DiscardHandler)})
	d.member = membership.New(membership.Config{})
	d.member.Adopt(nil, rec) // the collector reads the keys; no cluster node
	rec.Track(reconcile.Network{ID: "red-id", Name: "red", VNI: 43, Encrypted: true})
	rec.SetKeys("red-id", []store.Key{
		{Generation: 2, Created: now.Add(-100 * time.Second)},
		{Generation: 1, Created: now.Add(-time.Hour)},
	})
	d.st.Networks["blue"] = &netState{ID: "blue-id", Name: "blue", VNI: 42}
	d.st.Networks["red"] = &netState{ID: "red-id", Name: "red", VNI: 43, Cluster: true, Encrypted: true}
	d.st.Networks["green"] = &netState{ID: "green-id", Name: "green", VNI: 44}
	vtep := netip.MustParseAddrPort("198.18.0.2:4789")
	d.fdb.AddStatic(42, fdb.MAC{2, 0, 0, 0, 0, 1}, vtep)
	d.fdb.Learn(42, fdb.MAC{2, 0, 0, 0, 0, 2}, vtep, now)
	d.fdb.AddStaticIP(42, netip.MustParseAddr("198.19.1.2"), fdb.MAC{2, 0, 0, 0, 0, 1})
	d.fdb.AddStatic(43, fdb.MAC{2, 0, 0, 0, 0, 3}, vtep)
	return d
}

// gather collects c's gauges and counters into name → labels → value, labels written as
// name=value pairs joined by commas, sorted by name.
func gather(t *testing.T, c prometheus.Collector) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		series := map[string]float64{}
		for _, m := range mf.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if c := m.GetCounter(); c != nil {
				v = c.GetValue()
			}
			series[strings.Join(pairs, ",")] = v
		}
		out[mf.GetName()] = series
	}
	return out
}

// value returns the gauge of name with labels (as gather writes them),
// failing if there is none.
func value(t *testing.T, got map[string]map[string]float64, name, labels string) float64 {
	t.Helper()
	v, ok := got[name][labels]
	if !ok {
		t.Fatalf("no %s{%s}", name, labels)
	}
	return v
}

func TestDaemonMetricsStandalone(t *testing.T) {
	now := time.Now()
	c := daemonCollector{metricsDaemon(now)}
	want := `
# HELP weft_fdb_entries Rows of the forwarding database by VNI: kind="mac" (MAC to VTEP), kind="ip" (IP to MAC).
# TYPE weft_fdb_entries gauge
weft_fdb_entries{kind="ip",vni="42"} 1
weft_fdb_entries{kind="ip",vni="43"} 0
weft_fdb_entries{kind="ip",vni="44"} 0
weft_fdb_entries{kind="mac",vni="42"} 2
weft_fdb_entries{kind="mac",vni="43"} 1
weft_fdb_entries{kind="mac",vni="44"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "weft_fdb_entries"); err != nil {
		t.Fatal(err)
	}
	got := gather(t, c)
	for gen, age := range map[string]float64{"2": 100, "1": 3600} {
		if v := value(t, got, "weft_data_key_age_seconds", "generation="+gen+",network=red"); v < age || v > age+60 {
			t.Errorf("red's generation %s key age: got %v s; want %v s (give or take the test's run time)", gen, v, age)
		}
	}
	if n := len(got["weft_data_key_age_seconds"]); n != 2 {
		t.Errorf("data key ages: got %d series; want 2 (red's generations only)", n)
	}
	for _, name := range []string{"weft_gossip_members", "weft_raft_leader", "weft_raft_applied_index", "weft_gossip_key_age_seconds"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s exported outside a cluster", name)
		}
	}
	lint(t, c)
}

func lint(t *testing.T, c prometheus.Collector) {
	t.Helper()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: got %v, %v; want no problems", problems, err)
	}
}

// testNode is a cluster node as a scrape reads it (see clusterStats): a
// gossip agent and, on a manager, a raft store and the gossip key
// generations it holds.
type testNode struct {
	agent      *gossip.Agent
	store      *store.Store
	gossipKeys []store.Key
}

func (n *testNode) Agent() *gossip.Agent { return n.agent }

func (n *testNode) RaftStats() (store.RaftStats, bool) {
	if n.store == nil {
		return store.RaftStats{}, false
	}
	return n.store.RaftStats(), true
}

func (n *testNode) UnauthDropped() (uint64, bool) { return 3, n.store != nil }

func (n *testNode) GossipKeyGenerations() []store.Key {
	if n.store == nil {
		return nil
	}
	return n.gossipKeys
}

// clusterCollector collects what daemonCollector does for a daemon whose
// cluster node is c.
type clusterCollector struct {
	daemonCollector
	c   clusterStats
	now time.Time
}

func (cc clusterCollector) Collect(ch chan<- prometheus.Metric) {
	cc.daemonCollector.Collect(ch)
	collectCluster(ch, cc.c, cc.now)
}

// testManager returns a cluster node of one manager: a raft store that
// leads itself, with a gossip key created an hour before now, and a gossip
// agent on an in-memory network.
func testManager(t *testing.T, now time.Time) *testNode {
	t.Helper()
	addr, trans := raft.NewInmemTransport("m1:2377")
	cfg := store.DefaultConfig()
	cfg.NodeID, cfg.Dir, cfg.Transport, cfg.Bootstrap = "m1", t.TempDir(), trans, true
	cfg.Logger = slog.New(slog.DiscardHandler)
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatalf("open store at %s: %v", addr, err)
	}
	t.Cleanup(func() { st.Close() })
	poll.Until(t, 10*time.Second, "a single manager to lead", st.IsLeader)
	key := store.Key{Key: bytes.Repeat([]byte{7}, 32), Created: now.Add(-time.Hour)}
	if _, err := st.Apply(store.Command{Op: store.OpAddGossipKey, Key: &key}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	tr, err := (&gossiptest.Network{}).NewTransport("m1")
	if err != nil {
		t.Fatal(err)
	}
	gcfg := gossip.DefaultConfig()
	gcfg.NodeID, gcfg.Transport, gcfg.Keys, gcfg.Logger = "m1", tr, [][]byte{key.Key}, slog.New(slog.DiscardHandler)
	agent, err := gossip.New(gcfg, nil)
	if err != nil {
		tr.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Shutdown() })
	return &testNode{agent: agent, store: st, gossipKeys: []store.Key{{Generation: 1, Created: key.Created}}}
}

func TestDaemonMetricsCluster(t *testing.T) {
	now := time.Now()
	node := testManager(t, now)
	c := clusterCollector{daemonCollector{metricsDaemon(now)}, node, now}
	poll.Until(t, 5*time.Second, "the node itself counted alive", func() bool {
		return value(t, gather(t, c), "weft_gossip_members", "state=alive") == 1
	})
	got := gather(t, c)
	for _, s := range []string{"suspect", "dead", "left"} {
		if v := value(t, got, "weft_gossip_members", "state="+s); v != 0 {
			t.Errorf("gossip members %s: got %v; want 0", s, v)
		}
	}
	if v := value(t, got, "weft_raft_leader", ""); v != 1 {
		t.Errorf("raft leader: got %v; want 1", v)
	}
	for _, s := range store.RaftStates() {
		want := 0.0
		if s == "leader" {
			want = 1
		}
		if v := value(t, got, "weft_raft_state", "state="+s); v != want {
			t.Errorf("raft state %s: got %v; want %v", s, v, want)
		}
	}
	stats := node.store.RaftStats()
	if v := value(t, got, "weft_raft_applied_index", ""); v < 1 || v > float64(stats.AppliedIndex) {
		t.Errorf("raft applied index: got %v; want 1 to %d", v, stats.AppliedIndex)
	}
	if v := value(t, got, "weft_cluster_unauthenticated_conns_dropped_total", ""); v != 3 {
		t.Errorf("unauthenticated connections dropped: got %v; want the node's 3", v)
	}
	if v := value(t, got, "weft_raft_term", ""); v < 1 {
		t.Errorf("raft term: got %v; want at least 1", v)
	}
	if v := value(t, got, "weft_gossip_key_age_seconds", "generation=1"); v < 3600 || v > 3660 {
		t.Errorf("gossip key age: got %v s; want 3600 s", v)
	}
	lint(t, c)

	node.store = nil // a worker
	got = gather(t, c)
	for _, name := range []string{"weft_raft_leader", "weft_raft_state", "weft_raft_applied_index", "weft_gossip_key_age_seconds", "weft_cluster_unauthenticated_conns_dropped_total"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s exported on a worker", name)
		}
	}
	if _, ok := got["weft_gossip_members"]; !ok {
		t.Error("weft_gossip_members not exported on a worker")
	}
}

// offloadState is one offload's series: weft_offload_enabled and
// weft_offload_refusals_total.
type offloadState struct{ enabled, refusals float64 }

// offloadStates reads every offload's series from reg.
func offloadStates(t *testing.T, reg *metrics.Registry) map[string]offloadState {
	t.Helper()
	got := gather(t, reg)
	states := map[string]offloadState{}
	for _, kind := range []string{"udp_segment", "udp_gro", "tap"} {
		states[kind] = offloadState{value(t, got, "weft_offload_enabled", "kind="+kind), value(t, got, "weft_offload_refusals_total", "kind="+kind)}
	}
	return states
}

// warnings returns the WARN lines of a testLog buffer.
func warnings(buf *bytes.Buffer) []string {
	var warns []string
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "level=WARN") {
			warns = append(warns, line)
		}
	}
	return warns
}

// The underlay sockets' offloads are shown as the kernel granted them,
// the TAPs' as configured; offloads turned off by a flag show 0 with no
// WARN, and one the kernel refused shows 0 with one WARN.
func TestOpenDataPathOffloads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the underlay sockets' offloads are Linux's")
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantTAP float64
	}{
		{"defaults", func(*Config) {}, 1},
		{"two queues", func(c *Config) { c.Queues = 2 }, 1},
		{"--udp-offload=false --tap-offload=false", func(c *Config) { c.UDPOffload, c.TapOffload = false, false }, 0},
		{"--udp-offload=false --tap-driver=water", func(c *Config) { c.UDPOffload, c.TapDriver = false, "water" }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := testLog()
			d := &Daemon{cfg: DefaultConfig(), log: log, reg: metrics.NewRegistry(), fdb: fdb.New()}
			d.cfg.DataPathAddr, d.cfg.DataPathPort = netip.MustParseAddr("127.0.0.1"), 0
			tc.edit(&d.cfg)
			var err error
			if d.host, d.engine, err = openDataPath(d.cfg, d.log, d.reg, d.fdb); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.engine.Close() })
			got := offloadStates(t, d.reg)
			warns := warnings(buf)
			if refusals := got["udp_segment"].refusals + got["udp_gro"].refusals; float64(len(warns)) != refusals {
				t.Errorf("%d WARNs: %q; want one per refusal, %v", len(warns), warns, refusals)
			}
			for _, kind := range []string{"udp_segment", "udp_gro"} {
				st := got[kind]
				switch {
				case !d.cfg.UDPOffload && st != (offloadState{}):
					t.Errorf("%s turned off by flag: got %+v; want 0 and no refusal", kind, st)
				case d.cfg.UDPOffload && st != (offloadState{1, 0}) && st != (offloadState{0, 1}):
					t.Errorf("%s: got %+v; want on, or off and refused once", kind, st)
				}
				if refusedWarns := countWith(warns, "offload="+kind); float64(refusedWarns) != st.refusals {
					t.Errorf("%s: %d WARNs; want one per refusal, %v", kind, refusedWarns, st.refusals)
				}
			}
			if st := got["tap"]; st != (offloadState{tc.wantTAP, 0}) {
				t.Errorf("tap: got %+v; want %v and no refusal", st, tc.wantTAP)
			}
			if !d.cfg.UDPOffload && len(warns) != 0 {
				t.Errorf("WARNs with the offloads turned off by flag: %q; want none", warns)
			}
		})
	}
}

func countWith(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// An underlay offload the kernel refuses shows 0, counted, with one WARN
// that gives the kernel's error and what going without costs.
func TestUnderlayOffloadRefused(t *testing.T) {
	for _, tc := range []struct {
		offload encap.Offload
		kind    string
		err     error
	}{
		{encap.OffloadSegment, "udp_segment", fmt.Errorf("send 21 datagrams of 1458 bytes to 198.18.0.2:4789 as one UDP_SEGMENT message: %w", syscall.EIO)},
		{encap.OffloadGRO, "udp_gro", fmt.Errorf("setsockopt UDP_GRO: %w", syscall.ENOPROTOOPT)},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			log, buf := testLog()
			reg := metrics.NewRegistry()
			reg.Offloads.Set(metrics.OffloadUDPSegment, true)
			reg.Offloads.Set(metrics.OffloadUDPGRO, true)
			offloadRefused(log, &reg.Offloads, underlayOffload(tc.offload), tc.err, "addr", "198.18.0.1:4789")
			got := offloadStates(t, reg)
			if st := got[tc.kind]; st != (offloadState{0, 1}) {
				t.Errorf("%s: got %+v; want off, refused once", tc.kind, st)
			}
			for kind, st := range got {
				if kind != tc.kind && st.refusals != 0 {
					t.Errorf("%s refused %v times; want 0", kind, st.refusals)
				}
			}
			warns := warnings(buf)
			if len(warns) != 1 {
				t.Fatalf("got %d WARNs: %q; want 1", len(warns), warns)
			}
			for _, want := range []string{"offload=" + tc.kind, tc.err.Error(), "cost=", "addr=198.18.0.1:4789"} {
				if !strings.Contains(warns[0], want) {
					t.Errorf("WARN %q lacks %q", warns[0], want)
				}
			}
		})
	}
}

// A TAP whose offloads the kernel refuses is opened without them; the
// first refusal is a WARN, and every one is counted.
// A TAP whose offloads the kernel refuses shows 0, is counted for every
// TAP, and is WARNed about once (see links' tests for the fallback itself).
func TestTAPOffloadsRefused(t *testing.T) {
	log, buf := testLog()
	reg := metrics.NewRegistry()
	reg.Offloads.Set(metrics.OffloadTAP, true) // as configured
	refused := tapRefused(log, &reg.Offloads)
	for _, name := range []string{"wt-42", "wt-43", "wt-44"} {
		refused(name, fmt.Errorf("tap %s: TUNSETOFFLOAD: invalid argument", name))
	}
	if st := offloadStates(t, reg)["tap"]; st != (offloadState{0, 3}) {
		t.Errorf("tap: got %+v; want off and refused 3 times", st)
	}
	warns := warnings(buf)
	if len(warns) != 1 {
		t.Fatalf("got %d WARNs: %q; want 1", len(warns), warns)
	}
	for _, want := range []string{"offload=tap", "tap=wt-42", "TUNSETOFFLOAD: invalid argument", "cost="} {
		if !strings.Contains(warns[0], want) {
			t.Errorf("WARN %q lacks %q", warns[0], want)
		}
	}
}
