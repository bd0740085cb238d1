//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// The addresses of the two containers of TestForgedGossipChangesNothing:
// f0 on the manager, f1 on the worker w1.
const (
	forgeIP0 = "198.19.13.10"
	forgeIP1 = "198.19.13.11"
)

// TestForgedGossipChangesNothing: of a manager and two workers, the worker
// w2 is compromised. With its gossip keys and node key, taken from its
// state directory, a forger in its namespace (internal/e2e/forger) joins
// the gossip and sends every member (a) w1's record of its container with
// w2's VTEP, in w1's name, signed with w2's key, (b) the same unsigned,
// (c) w2's own record, genuinely signed, claiming that endpoint, (d)
// w1's record at version 2^64-1; then (e) an interest saying w1 left the
// network and (f) a leave notice of w1, both signed with w2's key. None
// of it takes effect: the containers of the manager and of w1 still reach
// each other and each other's names, the manager's FDB still puts w1's
// container behind w1's VTEP and w1 is still Ready and alive, while the
// manager and w1 count what they dropped and why (issue 13, fault 1).
func TestForgedGossipChangesNothing(t *testing.T) {
	lab := newLab(t, "we2e-forge")
	hosts := newCluster(t, lab, 3)
	m, w1, w2 := hosts[0], hosts[1], hosts[2]
	forger := buildForger(t)
	cli(t, m, "network", "create", "--attachable", "--subnet", "198.19.13.0/24", "forge")
	f := forgeState{m: m, w1: w1, w1ID: diagInspect(t, w1, "self").ID,
		c0: container(t, m, "f0", "forge", forgeIP0), c1: container(t, w1, "f1", "forge", forgeIP1)}
	ep := f.endpoint(t)
	f.mac = ep.MacAddress
	if !poll.Wait(10*time.Second, func() bool { return len(f.problems(t)) == 0 }) {
		t.Fatalf("the cluster is not whole before any forgery: %v", f.problems(t))
	}
	spec := forgerSpec(t, lab, w2, f.w1ID, ep, inspectNet(t, w1, "forge", false))

	const sig, claim, future = `weft_gossip_dropped_total{reason="signature"}`, `weft_gossip_dropped_total{reason="claim"}`, `weft_gossip_dropped_total{reason="future_version"}`
	for _, phase := range []struct {
		what string
		want map[*nstest.Weftd]map[string]float64 // the least rise of each drop counter
	}{
		// (a) and (b) fail their signature, (c) its claim, (d) its version.
		{"records", map[*nstest.Weftd]map[string]float64{m: {sig: 2, claim: 1, future: 1}, w1: {sig: 2, claim: 1, future: 1}}},
		// w1 ignores a leave notice of itself, but not a claim about it.
		{"notices", map[*nstest.Weftd]map[string]float64{m: {sig: 2}, w1: {sig: 1}}},
	} {
		before := map[*nstest.Weftd]map[string]float64{m: scrape(t, m), w1: scrape(t, w1)}
		out, err := nstest.Exec(w2.NS, forger, spec, phase.what)
		t.Logf("forger %s:\n%s", phase.what, strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		if rise := dropsRose(t, before, phase.want); rise != "" {
			t.Errorf("after the forged %s, within 10 s: %s", phase.what, rise)
		}
		for _, d := range []*nstest.Weftd{m, w1} {
			now := scrape(t, d)
			t.Logf("after the forged %s, %s dropped: signature %v, claim %v, future_version %v", phase.what, d.Name, now[sig], now[claim], now[future])
		}
		for _, p := range f.problems(t) {
			t.Errorf("after the forged %s: %s", phase.what, p)
		}
	}
}

// buildForger builds internal/e2e/forger and returns its path.
func buildForger(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "forger")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/weftnet/weft/internal/e2e/forger").CombinedOutput(); err != nil {
		t.Fatalf("build the forger: %v\n%s", err, out)
	}
	return bin
}

// forgerSpec writes the forger's spec: w2's keys, and w1's endpoint ep of
// the network n; it returns the file's path.
func forgerSpec(t *testing.T, lab *nstest.Lab, w2 *nstest.Weftd, w1ID string, ep api.Endpoint, n api.Network) string {
	t.Helper()
	spec := map[string]any{
		"gossip_keys": gossipKeys(t, w2),
		"node_key":    filepath.Join(lab.Dir(), w2.Name+".state", "cluster", "node.key"),
		"self":        diagInspect(t, w2, "self").ID,
		"self_vtep":   netip.AddrPortFrom(w2.IP, 4789),
		"victim":      w1ID,
		"bind":        netip.AddrPortFrom(w2.IP, 7947),
		"join":        netip.AddrPortFrom(underlay(1), 7946).String(),
		"endpoint": map[string]any{"id": ep.EndpointID, "network": n.ID, "vni": n.VNI,
			"ip": strings.Split(ep.IPv4Address, "/")[0], "mac": ep.MacAddress, "name": ep.Name},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(lab.Dir(), "forger.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dropsRose waits up to 10 s for each daemon's drop counters to rise from
// before by at least want; it returns what fell short, or "".
func dropsRose(t *testing.T, before, want map[*nstest.Weftd]map[string]float64) string {
	t.Helper()
	var short []string
	poll.Wait(10*time.Second, func() bool {
		short = short[:0]
		for d, keys := range want {
			now := scrape(t, d)
			for k, n := range keys {
				if v, ok := now[k]; !ok || v-before[d][k] < n {
					short = append(short, fmt.Sprintf("%s: %s rose by %v (exported %v); want at least %v", d.Name, k, v-before[d][k], ok, n))
				}
			}
		}
		return len(short) == 0
	})
	slices.Sort(short)
	return strings.Join(short, "; ")
}

// forgeState is what the forgeries must not change: f0 on the manager m
// and f1 on w1 reach each other by address and name, m's FDB puts f1's
// MAC behind w1's VTEP, and m sees w1 Ready and alive.
type forgeState struct {
	m, w1  *nstest.Weftd
	w1ID   string
	c0, c1 string // the containers' namespaces
	mac    string // f1's MAC
}

// endpoint returns f1's endpoint as w1 shows it.
func (f *forgeState) endpoint(t *testing.T) api.Endpoint {
	t.Helper()
	for _, ep := range inspectNet(t, f.w1, "forge", false).Containers {
		if ep.Name == "f1" {
			return ep
		}
	}
	t.Fatal("w1's inspect of forge lists no f1")
	return api.Endpoint{}
}

// problems returns what differs from the state the forgeries must not
// change.
func (f *forgeState) problems(t *testing.T) []string {
	t.Helper()
	var out []string
	if got, want := f.vtepOfMAC(t), f.w1.IP.String()+":4789"; got != want {
		out = append(out, fmt.Sprintf("the manager's FDB puts f1's MAC %s behind %q; want w1's VTEP %s", f.mac, got, want))
	}
	if n := diagInspect(t, f.m, f.w1ID); n.Status != "Ready" || n.Gossip != "alive" {
		out = append(out, fmt.Sprintf("the manager sees w1 %s, gossip %q; want Ready, alive", n.Status, n.Gossip))
	}
	if status, answers := dig(t, f.c0, "f1", "A"); status != "NOERROR" || !slices.Equal(answers, []string{forgeIP1}) {
		out = append(out, fmt.Sprintf("f1 resolves from f0 to %s %v; want NOERROR [%s]", status, answers, forgeIP1))
	}
	for _, p := range [][2]string{{f.c0, forgeIP1}, {f.c1, forgeIP0}} {
		if res, err := nstest.Exec(p[0], "ping", "-c", "3", "-i", "0.2", "-W", "2", p[1]); err != nil || !strings.Contains(res, " 0% packet loss") {
			out = append(out, fmt.Sprintf("ping %s from %s: %v %s", p[1], p[0], err, tail(res, 2)))
		}
	}
	return out
}

// vtepOfMAC returns the VTEP the manager's FDB of forge puts f1's MAC
// behind from a gossip record, or "" if none.
func (f *forgeState) vtepOfMAC(t *testing.T) string {
	t.Helper()
	var tables []api.FDB
	diagJSON(t, cli(t, f.m, "fdb", "--network", "forge", "--format", "json"), &tables)
	for _, tb := range tables {
		for _, row := range tb.MACs {
			if strings.EqualFold(row.MAC, f.mac) && row.Type == api.FDBGossip {
				return row.VTEP
			}
		}
	}
	return ""
}
