//go:build linux

package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// Sizes of the traffic metricsPing sends: 56 bytes of ICMP payload make a
// 98-byte Ethernet frame and a 106-byte VXLAN datagram.
const (
	metricsPings    = 200
	pingFrameLen    = 14 + 20 + 8 + 56
	pingDatagramLen = 8 + pingFrameLen
)

// scrape returns d's metrics, failing the test if /metrics does not answer.
func scrape(t *testing.T, d *nstest.Weftd) map[string]float64 {
	t.Helper()
	m, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// atLeast fails unless every metric of keys moved from before to after by
// at least want, and is exported.
func atLeast(t *testing.T, d *nstest.Weftd, before, after map[string]float64, want float64, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, ok := after[k]
		switch {
		case !ok:
			t.Errorf("%s: %s not exported", d.Name, k)
		case v-before[k] < want:
			t.Errorf("%s: %s rose by %v; want at least %v", d.Name, k, v-before[k], want)
		}
	}
}

// received is how many replies ping's summary line says came back.
var received = regexp.MustCompile(`(\d+) received`)

// metricsPing pings dst from ns metricsPings times, 10 ms apart, while
// scraping d; it returns how many replies came back and the scrape taken
// while the pings ran.
func metricsPing(t *testing.T, ns, dst string, d *nstest.Weftd) (int, map[string]float64) {
	t.Helper()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := nstest.Exec(ns, "timeout", "30", "ping", "-q", "-c", strconv.Itoa(metricsPings), "-i", "0.01", "-W", "2", dst)
		done <- result{out, err}
	}()
	// Scrape once d counts the pings sent, well before the run's 2 s end.
	sent := func(m map[string]float64) (n float64) {
		for k, v := range m {
			if strings.HasPrefix(k, "weft_network_tx_packets_total{") {
				n += v
			}
		}
		return n
	}
	var during map[string]float64
	first, err := d.Metrics()
	if err == nil {
		poll.Wait(5*time.Second, func() bool { during, err = d.Metrics(); return err != nil || sent(during) > sent(first) })
	}
	r := <-done
	if err != nil {
		t.Fatalf("scrape during traffic: %v", err)
	}
	m := received.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("ping %s from %s: %v\n%s", dst, ns, r.err, r.out)
	}
	n, _ := strconv.Atoi(m[1])
	if n < metricsPings*95/100 {
		t.Fatalf("ping %s from %s: %d of %d replies; want at least 95%%\n%s", dst, ns, n, metricsPings, r.out)
	}
	return n, during
}

// TestMetricsMove scrapes two weftd hosts' /metrics before, during and
// after a run of pings between their containers, and after malformed
// datagrams (issue 7, must-show 4): traffic counters per network and per
// peer move by at least the traffic sent, the batch histograms move, and
// each kind of bad datagram is counted under its reason, exactly.
func TestMetricsMove(t *testing.T) {
	lab := newLab(t, "we2e-met")
	h1, h2 := host(t, lab, "h1", 1), host(t, lab, "h2", 2)
	const vni = 423
	for _, hp := range [][2]*nstest.Weftd{{h1, h2}, {h2, h1}} {
		cli(t, hp[0], "network", "create", "--vni", strconv.Itoa(vni), "--peer", hp[1].IP.String(), "--subnet", "198.19.23.0/24", "metnet")
	}
	c1 := container(t, h1, "c1", "metnet", "198.19.23.2")
	container(t, h2, "c2", "metnet", "198.19.23.3")
	ping(t, c1, "198.19.23.3") // ARP settled and learned

	before1, before2 := scrape(t, h1), scrape(t, h2)
	start := time.Now()
	replies, during := metricsPing(t, c1, "198.19.23.3", h1)
	afterOK := func(m map[string]float64) bool {
		return m[netKey("tx_packets", vni)]-before1[netKey("tx_packets", vni)] >= metricsPings &&
			m[netKey("rx_packets", vni)]-before1[netKey("rx_packets", vni)] >= float64(replies)
	}
	var after1 map[string]float64
	poll.Wait(3*time.Second, func() bool { after1 = scrape(t, h1); return afterOK(after1) })
	after2 := scrape(t, h2)
	n := float64(replies)
	peer1, peer2 := peerKey(h1), peerKey(h2) // h1 as h2 labels it, and h2 as h1 does
	delta := func(k string) float64 { return after1[k] - before1[k] }
	t.Logf("h1 over %d pings (%d replies): network tx %v packets, %v bytes; to h2 %v datagrams, %v bytes; from h2 %v datagrams",
		metricsPings, replies, delta(netKey("tx_packets", vni)), delta(netKey("tx_bytes", vni)),
		delta(`weft_peer_tx_packets_total`+peer2), delta(`weft_peer_tx_bytes_total`+peer2), delta(`weft_peer_rx_packets_total`+peer2))
	for _, dir := range []string{"tap_read", "udp_read", "udp_write"} {
		t.Logf("h1 %s: %v batches, %v in all", dir, delta(batchKey("count", dir)), delta(batchKey("sum", dir)))
	}

	t.Run("scraped during traffic", func(t *testing.T) {
		key := netKey("tx_packets", vni)
		if d := during[key] - before1[key]; d <= 0 || d >= after1[key]-before1[key] {
			t.Errorf("%s mid-run rose by %v; want between 0 and the final %v", key, d, after1[key]-before1[key])
		}
	})
	t.Run("network counters", func(t *testing.T) {
		atLeast(t, h1, before1, after1, metricsPings, netKey("tx_packets", vni))
		atLeast(t, h1, before1, after1, metricsPings*pingFrameLen, netKey("tx_bytes", vni))
		atLeast(t, h1, before1, after1, n, netKey("rx_packets", vni))
		atLeast(t, h1, before1, after1, n*pingFrameLen, netKey("rx_bytes", vni))
		atLeast(t, h2, before2, after2, n, netKey("rx_packets", vni), netKey("tx_packets", vni))
		atLeast(t, h2, before2, after2, n*pingFrameLen, netKey("rx_bytes", vni), netKey("tx_bytes", vni))
	})
	t.Run("peer counters and last seen", func(t *testing.T) {
		atLeast(t, h1, before1, after1, metricsPings, `weft_peer_tx_packets_total`+peer2)
		atLeast(t, h1, before1, after1, metricsPings*pingDatagramLen, `weft_peer_tx_bytes_total`+peer2)
		atLeast(t, h1, before1, after1, n, `weft_peer_rx_packets_total`+peer2)
		atLeast(t, h1, before1, after1, n*pingDatagramLen, `weft_peer_rx_bytes_total`+peer2)
		atLeast(t, h2, before2, after2, n, `weft_peer_rx_packets_total`+peer1, `weft_peer_tx_packets_total`+peer1)
		atLeast(t, h2, before2, after2, n*pingDatagramLen, `weft_peer_rx_bytes_total`+peer1, `weft_peer_tx_bytes_total`+peer1)
		for _, c := range []struct {
			d *nstest.Weftd
			m map[string]float64
			p string
		}{{h1, after1, peer2}, {h2, after2, peer1}} {
			seen := c.m[`weft_peer_last_seen_timestamp_seconds`+c.p]
			if now := float64(time.Now().UnixNano()) / 1e9; seen < float64(start.Unix()) || seen > now+1 {
				t.Errorf("%s: last seen %s at %v; want between %d (start) and %v (now)", c.d.Name, c.p, seen, start.Unix(), now)
			}
			if other := c.m[`weft_peer_rx_packets_total{peer="other"}`]; other != 0 {
				t.Errorf("%s: %v datagrams from other VTEPs; want 0", c.d.Name, other)
			}
		}
	})
	t.Run("batch size histograms", func(t *testing.T) {
		for _, dir := range []string{"tap_read", "udp_write"} {
			atLeast(t, h1, before1, after1, 1, batchKey("count", dir))
			atLeast(t, h1, before1, after1, metricsPings, batchKey("sum", dir))
		}
		atLeast(t, h1, before1, after1, 1, batchKey("count", "udp_read"))
		atLeast(t, h1, before1, after1, n, batchKey("sum", "udp_read"))
		for _, dir := range []string{"tap_read", "udp_read", "udp_write"} {
			if inf, count := after1[batchKey(`bucket`, dir, `le="+Inf"`)], after1[batchKey("count", dir)]; inf != count {
				t.Errorf("h1: %s +Inf bucket %v; want the count, %v", dir, inf, count)
			}
		}
	})
	t.Run("FDB entries and the replay reason", func(t *testing.T) {
		for _, c := range []struct {
			d *nstest.Weftd
			m map[string]float64
		}{{h1, after1}, {h2, after2}} {
			for _, kind := range []string{"mac", "ip"} {
				key := fmt.Sprintf(`weft_fdb_entries{kind=%q,vni="%d"}`, kind, vni)
				if c.m[key] < 1 {
					t.Errorf("%s: %s = %v; want at least 1 (the other container, learned)", c.d.Name, key, c.m[key])
				}
			}
			key := fmt.Sprintf(`weft_network_drops_total{network="metnet",reason="replay",vni="%d"}`, vni)
			if _, ok := c.m[key]; !ok {
				t.Errorf("%s: %s not exported", c.d.Name, key)
			}
		}
	})
	t.Run("bad datagrams counted by reason, exactly", func(t *testing.T) {
		checkBadDatagrams(t, h2, h1, vni)
	})
}

func netKey(what string, vni int) string {
	return fmt.Sprintf(`weft_network_%s_total{network="metnet",vni="%d"}`, what, vni)
}

// peerKey is the label set of d as its peers label it.
func peerKey(d *nstest.Weftd) string {
	return fmt.Sprintf(`{peer="%s:4789"}`, d.IP)
}

// batchKey is a series of the batch size histogram: part is bucket, sum or
// count, and le the bucket's label if part is bucket.
func batchKey(part, direction string, le ...string) string {
	return fmt.Sprintf(`weft_batch_size_%s{%s}`, part, strings.Join(append([]string{`direction="` + direction + `"`}, le...), ","))
}

// checkBadDatagrams sends each kind of malformed datagram, each short of
// being carried, from peer's namespace to d's data port and checks that d
// counts every one under its reason, and nothing against a peer.
func checkBadDatagrams(t *testing.T, d, peer *nstest.Weftd, vni uint32) {
	const each = 7
	hdr := func(flags, vni uint32) []byte {
		h := make([]byte, 8, 8+60)
		binary.BigEndian.PutUint32(h, flags)
		binary.BigEndian.PutUint32(h[4:], vni<<8)
		return h
	}
	frame := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 9, 0x08, 0x00}, make([]byte, 46)...)
	cases := []struct {
		reason string
		pkt    []byte
	}{
		{"short", []byte{0x08, 0, 0, 0, 0}},
		{"bad_flags", append(hdr(0x0c000000, vni), frame...)},
		{"unknown_vni", append(hdr(0x08000000, 4095), frame...)},
	}
	key := func(reason string) string { return fmt.Sprintf(`weft_underlay_drops_total{reason=%q}`, reason) }
	before := scrape(t, d)
	for _, c := range cases {
		pkts := make([][]byte, each)
		for i := range pkts {
			pkts[i] = c.pkt
		}
		if err := nstest.SendUDP(peer.NS, d.IP.String()+":4789", pkts...); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]float64
	poll.Wait(3*time.Second, func() bool {
		after = scrape(t, d)
		for _, c := range cases {
			if after[key(c.reason)]-before[key(c.reason)] < each {
				return false
			}
		}
		return true
	})
	// A marker sent after them, a frame too big for the network, is counted
	// once every datagram before it is, as often as it will be: one
	// underlay socket reads them in order.
	oversize := fmt.Sprintf(`weft_network_drops_total{network="metnet",reason="oversize",vni="%d"}`, vni)
	if err := nstest.SendUDP(peer.NS, d.IP.String()+":4789", append(hdr(0x08000000, vni), make([]byte, 9100)...)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 3*time.Second, "the marker to be counted", func() bool { return scrape(t, d)[oversize]-before[oversize] >= 1 })
	after = scrape(t, d)
	for _, c := range cases {
		if got := after[key(c.reason)] - before[key(c.reason)]; got != each {
			t.Errorf("%s rose by %v; want %d", key(c.reason), got, each)
		}
	}
	for _, r := range []string{"truncated", "unknown_spi"} {
		if got := after[key(r)] - before[key(r)]; got != 0 {
			t.Errorf("%s rose by %v; want 0", key(r), got)
		}
	}
	if got := after[`weft_peer_rx_packets_total{peer="other"}`]; got != 0 {
		t.Errorf("bad datagrams counted as %v from other VTEPs; want 0", got)
	}
}

// TestMetricsCluster checks the cluster's metrics on a manager and a
// worker: gossip members by state, raft on the manager only, and the ages
// of the gossip keys and of an encrypted network's data keys.
func TestMetricsCluster(t *testing.T) {
	lab := newLab(t, "we2e-metc")
	hosts := newCluster(t, lab, 2)
	mgr, wrk := hosts[0], hosts[1]
	cli(t, mgr, "network", "create", "--attachable", "--opt", "encrypted", "--subnet", "198.19.24.0/24", "metsec")
	c1 := container(t, mgr, "c1", "metsec", "198.19.24.11")
	container(t, wrk, "c2", "metsec", "198.19.24.12")
	if !poll.Wait(5*time.Second, func() bool {
		_, err := nstest.Exec(c1, "ping", "-c", "1", "-W", "1", "198.19.24.12")
		return err == nil
	}) {
		t.Fatalf("c1 cannot reach c2 on the encrypted network")
	}
	alive := `weft_gossip_members{state="alive"}`
	for _, h := range hosts {
		var m map[string]float64
		if !poll.Wait(5*time.Second, func() bool { m = scrape(t, h); return m[alive] == 2 }) {
			t.Errorf("%s: %s = %v; want 2", h.Name, alive, m[alive])
		}
		for _, s := range []string{"suspect", "dead", "left"} {
			if k := `weft_gossip_members{state="` + s + `"}`; m[k] != 0 {
				t.Errorf("%s: %s = %v; want 0", h.Name, k, m[k])
			}
		}
		gen := `weft_data_key_age_seconds{generation="1",network="metsec"}`
		if age, ok := m[gen]; !ok || age < 0 || age > 600 {
			t.Errorf("%s: %s = %v (exported %v); want the age of a key made during this test", h.Name, gen, age, ok)
		}
		if got := m[`weft_peer_tx_packets_total`+peerKey(otherHost(hosts, h))]; got < 1 {
			t.Errorf("%s: tx packets to the other host: %v; want at least 1", h.Name, got)
		}
	}
	m, w := scrape(t, mgr), scrape(t, wrk)
	if m["weft_raft_leader"] != 1 || m[`weft_raft_state{state="leader"}`] != 1 || m["weft_raft_applied_index"] < 1 {
		t.Errorf("manager: raft leader %v, state leader %v, applied index %v; want 1, 1, at least 1",
			m["weft_raft_leader"], m[`weft_raft_state{state="leader"}`], m["weft_raft_applied_index"])
	}
	if age, ok := m[`weft_gossip_key_age_seconds{generation="1"}`]; !ok || age < 0 || age > 600 {
		t.Errorf("manager: gossip key age %v (exported %v); want the age of the key made at init", age, ok)
	}
	for _, k := range []string{"weft_raft_leader", "weft_raft_applied_index", `weft_gossip_key_age_seconds{generation="1"}`} {
		if _, ok := w[k]; ok {
			t.Errorf("worker: %s exported; want it only on managers", k)
		}
	}
}

func otherHost(hosts []*nstest.Weftd, h *nstest.Weftd) *nstest.Weftd {
	if hosts[0] == h {
		return hosts[1]
	}
	return hosts[0]
}

// offloadKey is the series of weft_offload_enabled or
// weft_offload_refusals_total ("enabled" or "refusals_total") of kind.
func offloadKey(what, kind string) string {
	return fmt.Sprintf(`weft_offload_%s{kind=%q}`, what, kind)
}

// offloadWarns returns the lines of d's log that WARN of an offload turned
// off.
func offloadWarns(t *testing.T, d *nstest.Weftd) []string {
	t.Helper()
	log, err := os.ReadFile(d.Log)
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "offload turned off") {
			warns = append(warns, line)
		}
	}
	return warns
}

// offloadSeries is one offload's weft_offload_enabled and
// weft_offload_refusals_total.
type offloadSeries struct{ enabled, refusals float64 }

// offloads reads every offload's series from a scrape of d, failing the
// test for one not exported.
func offloads(t *testing.T, d *nstest.Weftd) map[string]offloadSeries {
	t.Helper()
	m := scrape(t, d)
	got := map[string]offloadSeries{}
	for _, kind := range []string{"udp_segment", "udp_gro", "tap"} {
		enabled, ok1 := m[offloadKey("enabled", kind)]
		refusals, ok2 := m[offloadKey("refusals_total", kind)]
		if !ok1 || !ok2 {
			t.Errorf("%s: %s or %s not exported", d.Name, offloadKey("enabled", kind), offloadKey("refusals_total", kind))
		}
		got[kind] = offloadSeries{enabled, refusals}
	}
	return got
}

// TestMetricsOffload checks weft_offload_enabled and
// weft_offload_refusals_total (issue 12, item 5) on two hosts that carry
// TCP between their containers: h1 with the offloads its flags allow, over
// an underlay interface that does not checksum (ethtool tx off), where
// older kernels refuse UDP_SEGMENT sends with EIO; h2 with the
// offloads turned off by flag. h1 shows each offload on, or, for
// UDP_SEGMENT, off with one refusal and one WARN giving EIO; h2 shows them
// all off, with no refusal and no WARN; and the traffic flows.
func TestMetricsOffload(t *testing.T) {
	lab := newLab(t, "we2e-off")
	h, err := lab.Host("h1", underlay(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ChecksumInSoftware(); err != nil {
		t.Fatal(err)
	}
	h1, err := h.StartWeftd()
	if err != nil {
		t.Fatal(err)
	}
	dumpLogsOnFailure(t, h1)
	h2 := host(t, lab, "h2", 2, "--udp-offload=false", "--tap-offload=false")
	const vni = 424
	for _, hp := range [][2]*nstest.Weftd{{h1, h2}, {h2, h1}} {
		cli(t, hp[0], "network", "create", "--vni", strconv.Itoa(vni), "--peer", hp[1].IP.String(), "--subnet", "198.19.25.0/24", "offnet")
	}
	c1 := container(t, h1, "c1", "offnet", "198.19.25.2")
	c2 := container(t, h2, "c2", "offnet", "198.19.25.3")
	ping(t, c1, "198.19.25.3")
	iperf(t, lab, c2, "198.19.25.3", c1, false) // with TAP offloads, TCP leaves h1 in UDP_SEGMENT runs

	args := os.Getenv("WEFT_E2E_WEFTD_ARGS")
	udpOn := boolFloat(!strings.Contains(args, "udp-offload=false"))
	tapOn := boolFloat(!strings.Contains(args, "water") && !strings.Contains(args, "tap-offload=false"))
	got1, warns1 := offloads(t, h1), offloadWarns(t, h1)
	want1 := map[string]offloadSeries{"udp_segment": {udpOn, 0}, "udp_gro": {udpOn, 0}, "tap": {tapOn, 0}}
	if got1["udp_segment"] == (offloadSeries{0, 1}) && udpOn == 1 {
		want1["udp_segment"] = offloadSeries{0, 1} // refused with EIO
		if len(warns1) != 1 || !strings.Contains(warns1[0], "offload=udp_segment") || !strings.Contains(warns1[0], "input/output error") {
			t.Errorf("h1: offload WARNs %q; want one, for udp_segment, with EIO's text", warns1)
		}
		t.Logf("h1: the kernel refused UDP_SEGMENT: %s", warns1[0])
	} else if len(warns1) != 0 {
		t.Errorf("h1: offload WARNs %q; want none", warns1)
	}
	for kind, want := range want1 {
		if got1[kind] != want {
			t.Errorf("h1: %s enabled %v, refused %v times; want %v, %v", kind, got1[kind].enabled, got1[kind].refusals, want.enabled, want.refusals)
		}
	}
	for kind, got := range offloads(t, h2) {
		if got != (offloadSeries{}) {
			t.Errorf("h2 (offloads off by flag): %s enabled %v, refused %v times; want 0, 0", kind, got.enabled, got.refusals)
		}
	}
	if warns := offloadWarns(t, h2); len(warns) != 0 {
		t.Errorf("h2 (offloads off by flag): offload WARNs %q; want none", warns)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
