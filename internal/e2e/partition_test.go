//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// partitionRules drops every packet between a host and the given addresses,
// both ways, in an nftables table of its own.
func partitionRules(peers ...string) string {
	set := strings.Join(peers, ", ")
	return fmt.Sprintf(`table inet weftpart {
	chain in { type filter hook input priority 0; ip saddr { %s } drop; }
	chain out { type filter hook output priority 0; ip daddr { %s } drop; }
}`, set, set)
}

// A partition made with nftables between {h1, h2} and {h3, h4}: each side
// keeps forwarding among what it can reach; after the heal every node
// converges (must-show 5).
func TestPartitionAndHeal(t *testing.T) {
	lab := newLab(t, "we2e-part")
	hosts := newCluster(t, lab, 4)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.7.0/24", "split")
	cs := make([]string, len(hosts))
	ips := make([]string, len(hosts))
	for i, h := range hosts {
		ns, err := lab.Container(fmt.Sprintf("p%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = ns
		ips[i] = attachIP(cli(t, h, "attach", "--network", "split", ns))
	}
	reach := func(from, to int, limit time.Duration) bool {
		return poll.Wait(limit, func() bool {
			_, err := nstest.Exec(cs[from], "ping", "-c", "1", "-W", "1", ips[to])
			return err == nil
		})
	}
	for from := range hosts {
		for to := range hosts {
			if from != to && !reach(from, to, 5*time.Second) {
				t.Fatalf("before the partition: p%d cannot reach p%d", from+1, to+1)
			}
		}
	}

	rules := partitionRules(hosts[0].IP.String(), hosts[1].IP.String())
	for _, h := range hosts[2:] {
		if err := nftApply(h.NS, rules); err != nil {
			t.Fatal(err)
		}
	}
	healed := false
	heal := func() {
		if healed {
			return
		}
		healed = true
		for _, h := range hosts[2:] {
			_, _ = nstest.Exec(h.NS, "nft", "delete", "table", "inet", "weftpart")
		}
	}
	t.Cleanup(heal)

	t.Run("each side keeps forwarding among itself", func(t *testing.T) {
		// Both sides declare the other dead: each node sees two members
		// alive, itself included, and two dead.
		members := func(m map[string]float64, state string) float64 {
			return m[`weft_gossip_members{state="`+state+`"}`]
		}
		if !poll.Wait(15*time.Second, func() bool {
			for _, h := range hosts {
				m, err := h.Metrics()
				if err != nil || members(m, "alive") != 2 || members(m, "dead") != 2 {
					return false
				}
			}
			return true
		}) {
			for _, h := range hosts {
				m, err := h.Metrics()
				t.Logf("%s: %v alive, %v suspect, %v dead (%v)", h.Name, members(m, "alive"), members(m, "suspect"), members(m, "dead"), err)
			}
			t.Fatal("the two sides did not declare each other dead within 15 s")
		}
		for _, p := range [][2]int{{0, 1}, {1, 0}, {2, 3}, {3, 2}} {
			ping(t, cs[p[0]], ips[p[1]])
		}
		if reach(0, 2, 2*time.Second) {
			t.Fatal("p1 reached p3 through the partition; the nftables rules do not hold")
		}
	})
	t.Run("after the heal every node converges", func(t *testing.T) {
		heal()
		start := time.Now()
		if !poll.Wait(30*time.Second, func() bool {
			for _, h := range hosts {
				nodes, err := nodesOf(h)
				if err != nil || len(nodes) != len(hosts) {
					return false
				}
				for _, n := range nodes {
					if n.Status != "Ready" {
						return false
					}
				}
			}
			return true
		}) {
			for _, h := range hosts {
				out, _ := h.CLI("node", "ls")
				t.Logf("node ls on %s:\n%s", h.Name, out)
			}
			t.Fatal("nodes did not all see each other Ready within 30 s of the heal")
		}
		t.Logf("every node saw every other Ready %s after the heal", time.Since(start).Round(100*time.Millisecond))
		for from := range hosts {
			for to := range hosts {
				if from != to && !reach(from, to, 10*time.Second) {
					t.Fatalf("after the heal: p%d cannot reach p%d", from+1, to+1)
				}
			}
		}
	})
}

// nodesOf is nodeList without failing the test, for polling.
func nodesOf(d *nstest.Weftd) ([]struct{ Status string }, error) {
	out, err := d.CLI("node", "ls")
	if err != nil {
		return nil, err
	}
	var nodes []struct{ Status string }
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(strings.ReplaceAll(line, " * ", " "))
		if len(f) > 2 {
			nodes = append(nodes, struct{ Status string }{f[2]})
		}
	}
	return nodes, nil
}

// nftApply loads an nftables ruleset inside a namespace.
func nftApply(ns, rules string) error {
	return nstest.ExecInput(ns, rules, "nft", "-f", "-")
}
