//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// gossipKeys reads the gossip keys a node keeps, primary first.
func gossipKeys(t *testing.T, d *nstest.Weftd) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(d.Lab.Dir(), d.Name+".state", "cluster", "info.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Keys [][]byte `json:"gossip_keys"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	return info.Keys
}

// The managers rotate the gossip key every few seconds while the cluster
// runs: no node drops out and traffic keeps flowing.
func TestGossipKeyRotation(t *testing.T) {
	lab := newLab(t, "we2e-keys")
	hosts := make([]*nstest.Weftd, 3)
	for i := range hosts {
		h, err := lab.Host("h"+string(rune('1'+i)), underlay(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if hosts[i], err = h.StartWeftd("--gossip-key-rotation", "10s"); err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, hosts[i])
	}
	token := tokenRE.FindString(cli(t, hosts[0], "cluster", "init", "--default-addr-pool", "198.19.0.0/16"))
	for _, h := range hosts[1:] {
		cli(t, h, "cluster", "join", "--token", token, hosts[0].IP.String()+":2377")
	}
	cli(t, hosts[0], "network", "create", "--attachable", "keys")
	c1 := container(t, hosts[0], "k1", "keys", "")
	container(t, hosts[2], "k2", "keys", "")
	ip2 := ""
	for _, ep := range inspectContainers(t, hosts[2], "keys") {
		ip2 = ep
	}
	first := gossipKeys(t, hosts[1])[0]
	// Wait until every node has encrypted with three keys in turn (two
	// rotations, some 20 to 40 s), and check once a second meanwhile that
	// the cluster stays whole.
	primaries := make([][][]byte, len(hosts)) // the keys each node encrypted with, in turn
	var checked time.Time
	rotated := func() bool {
		if time.Since(checked) >= time.Second {
			checked = time.Now()
			nodes, err := nodesOf(hosts[0])
			if err != nil || len(nodes) != 3 {
				t.Fatalf("node ls during rotation: %v, %d nodes", err, len(nodes))
			}
			for _, n := range nodes {
				if n.Status != "Ready" {
					t.Fatalf("a node went %s during key rotation", n.Status)
				}
			}
			if _, err := nstest.Exec(c1, "ping", "-c", "1", "-W", "1", ip2); err != nil {
				t.Fatalf("ping across the cluster failed during key rotation: %v", err)
			}
		}
		done := true
		for i, h := range hosts {
			k := gossipKeys(t, h)[0]
			if n := len(primaries[i]); n == 0 || !bytes.Equal(primaries[i][n-1], k) {
				primaries[i] = append(primaries[i], k)
			}
			done = done && len(primaries[i]) >= 3
		}
		return done
	}
	start := time.Now()
	if poll.Wait(time.Minute, rotated) {
		t.Logf("every node encrypted with three keys in turn within %v", time.Since(start).Round(time.Second))
	}
	for i, h := range hosts {
		if n := len(primaries[i]); n < 3 {
			t.Errorf("%s encrypted with %d keys in turn in a minute of 10 s rotations; want 3", h.Name, n)
		}
	}
	for _, h := range hosts {
		keys := gossipKeys(t, h)
		if bytes.Equal(keys[0], first) {
			t.Errorf("%s still encrypts with the first key", h.Name)
		}
		if len(keys) > 3 {
			t.Errorf("%s keeps %d keys; want at most 3 generations", h.Name, len(keys))
		}
	}
}

// inspectContainers returns the addresses of a network's containers on d.
func inspectContainers(t *testing.T, d *nstest.Weftd, network string) []string {
	t.Helper()
	var ns []struct {
		Containers map[string]struct{ IPv4Address string }
	}
	if err := json.Unmarshal([]byte(cli(t, d, "network", "inspect", network)), &ns); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range ns[0].Containers {
		out = append(out, c.IPv4Address[:len(c.IPv4Address)-3])
	}
	return out
}
