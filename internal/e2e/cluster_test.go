//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// tokenRE finds a join token in `weft cluster init` or join-token output.
var tokenRE = regexp.MustCompile(`WEFT-1-[0-9a-f]+-[a-z2-7]+`)

// newCluster starts n weftd hosts, with extra weftd flags if given, makes
// the first a manager with init and joins the others as workers. It returns
// the daemons, manager first.
func newCluster(t *testing.T, lab *nstest.Lab, n int, extra ...string) []*nstest.Weftd {
	t.Helper()
	hosts := make([]*nstest.Weftd, n)
	for i := range hosts {
		hosts[i] = host(t, lab, fmt.Sprintf("h%d", i+1), i+1, extra...)
	}
	out := cli(t, hosts[0], "cluster", "init", "--default-addr-pool", "198.19.0.0/16")
	token := tokenRE.FindString(out)
	if token == "" {
		t.Fatalf("no worker token in init output:\n%s", out)
	}
	for _, h := range hosts[1:] {
		cli(t, h, "cluster", "join", "--token", token, hosts[0].IP.String()+":2377")
	}
	return hosts
}

func nodeList(t *testing.T, d *nstest.Weftd) []api.Node {
	t.Helper()
	out, err := d.CLI("node", "ls")
	if err != nil {
		t.Fatalf("node ls on %s: %v", d.Name, err)
	}
	var nodes []api.Node
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(strings.ReplaceAll(line, " * ", " "))
		n := api.Node{ID: f[0], Status: f[2], Role: f[3]}
		if n.Role == "manager" && len(f) > 5 {
			n.ManagerStatus = f[4]
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// Three hosts: init, two workers join, an attachable network made once,
// a container on each host, full-mesh ping, and node ls agreeing everywhere
// (must-show 1); SIGKILL a node and its endpoints are withdrawn within 3 s,
// then restored when it returns (must-show 3).
func TestClusterThreeHosts(t *testing.T) {
	lab := newLab(t, "we2e-clu")
	hosts := newCluster(t, lab, 3)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.5.0/24", "test-net")
	ips := map[string]string{}
	cs := map[string]string{}
	for i, h := range hosts {
		name := fmt.Sprintf("c%d", i+1)
		ns, err := lab.Container(name)
		if err != nil {
			t.Fatal(err)
		}
		cs[name] = ns
		out := cli(t, h, "attach", "--network", "test-net", "--name", name, ns)
		f := strings.Fields(out)
		if len(f) < 2 {
			t.Fatalf("attach output %q", out)
		}
		ips[name] = strings.Split(f[1], "/")[0]
	}
	t.Run("addresses are distinct and from the subnet", func(t *testing.T) {
		seen := map[string]string{}
		for name, ip := range ips {
			if !strings.HasPrefix(ip, "198.19.5.") {
				t.Errorf("%s got %s; want an address of 198.19.5.0/24", name, ip)
			}
			if o, dup := seen[ip]; dup {
				t.Errorf("%s and %s both got %s", name, o, ip)
			}
			seen[ip] = name
		}
	})
	t.Run("full-mesh ping", func(t *testing.T) {
		for from, ns := range cs {
			for to, ip := range ips {
				if from != to {
					ping(t, ns, ip)
				}
			}
		}
	})
	t.Run("node ls agrees on every node", func(t *testing.T) {
		var first string
		for _, h := range hosts {
			nodes := nodeList(t, h)
			b, _ := json.Marshal(nodes)
			if len(nodes) != 3 {
				t.Fatalf("node ls on %s lists %d nodes; want 3: %s", h.Name, len(nodes), b)
			}
			for _, n := range nodes {
				if n.Status != "Ready" {
					t.Errorf("node ls on %s: %s is %s; want Ready", h.Name, n.ID, n.Status)
				}
			}
			if first == "" {
				first = string(b)
			} else if string(b) != first {
				t.Errorf("node ls on %s differs:\n%s\nwant\n%s", h.Name, b, first)
			}
		}
	})
	t.Run("a killed node's endpoints are withdrawn within 3 s and come back", func(t *testing.T) {
		victim := hosts[2]
		if err := victim.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		withdrawn := poll.Wait(5*time.Second, func() bool {
			n, err := hosts[0].CLI("network", "inspect", "test-net")
			return err == nil && !strings.Contains(n, victim.IP.String()+":4789")
		})
		took := time.Since(killed)
		if !withdrawn || took > 3*time.Second {
			t.Fatalf("the killed node's VTEP was still a peer %s after SIGKILL; want withdrawn within 3s", took.Round(100*time.Millisecond))
		}
		t.Logf("withdrawn %s after SIGKILL", took.Round(100*time.Millisecond))
		if !poll.Wait(5*time.Second, func() bool {
			for _, n := range nodeList(t, hosts[0]) {
				if n.Status == "Down" {
					return true
				}
			}
			return false
		}) {
			t.Errorf("node ls never showed the killed node Down")
		}
		restarted, err := victim.StartWeftd()
		if err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, restarted)
		back := time.Now()
		for _, p := range [][2]string{{"c1", "c3"}, {"c3", "c2"}} {
			if !poll.Wait(10*time.Second, func() bool {
				_, err := nstest.Exec(cs[p[0]], "ping", "-c", "1", "-W", "1", ips[p[1]])
				return err == nil
			}) {
				t.Fatalf("%s cannot reach %s after c3's node came back", p[0], p[1])
			}
		}
		t.Logf("traffic resumed %s after the restart", time.Since(back).Round(100*time.Millisecond))
		ping(t, cs["c3"], ips["c2"])
		ping(t, cs["c2"], ips["c3"])
	})
}
