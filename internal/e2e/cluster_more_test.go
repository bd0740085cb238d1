//go:build linux

package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// attachOut runs weft attach and returns the address it got.
func attachIP(out string) string {
	f := strings.Fields(out)
	if len(f) < 2 {
		return ""
	}
	return strings.Split(f[1], "/")[0]
}

// 3 × 50 concurrent attaches get 150 distinct addresses; detach and
// re-attach reuses addresses without stale forwarding (must-show 2).
func TestConcurrentAttaches(t *testing.T) {
	lab := newLab(t, "we2e-conc")
	hosts := newCluster(t, lab, 3)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.6.0/24", "busy")
	const perNode = 50
	type result struct{ name, ns, ip, err string }
	results := make([]result, len(hosts)*perNode)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hosts[i%len(hosts)]
			r := &results[i]
			r.name = fmt.Sprintf("x%d", i)
			ns, err := lab.Container(r.name)
			if err != nil {
				r.err = err.Error()
				return
			}
			r.ns = ns
			out, err := h.CLI("attach", "--network", "busy", "--name", r.name, ns)
			if err != nil {
				r.err = err.Error()
			}
			r.ip = attachIP(out)
		}()
	}
	wg.Wait()
	owner := map[string]string{}
	for _, r := range results {
		if r.err != "" {
			t.Fatalf("attach %s: %s", r.name, r.err)
		}
		if o, dup := owner[r.ip]; dup {
			t.Fatalf("%s and %s both got %s", o, r.name, r.ip)
		}
		owner[r.ip] = r.name
	}
	if len(owner) != len(results) {
		t.Fatalf("got %d distinct addresses; want %d", len(owner), len(results))
	}
	// Traffic between two of them on different nodes.
	ping(t, results[0].ns, results[1].ip)

	// Detach five containers of node 2 and attach five new ones on node 3:
	// they get the freed addresses, and a container on node 1 reaches the
	// new owner, not the old one.
	freed := map[string]bool{}
	for i := 1; i < 15; i += 3 {
		cli(t, hosts[1], "detach", "--network", "busy", results[i].ns)
		freed[results[i].ip] = true
	}
	for k := range 5 {
		name := fmt.Sprintf("y%d", k)
		ns, err := lab.Container(name)
		if err != nil {
			t.Fatal(err)
		}
		ip := attachIP(cli(t, hosts[2], "attach", "--network", "busy", "--name", name, ns))
		if !freed[ip] {
			t.Fatalf("re-attach got %s; want one of the freed addresses %v", ip, freed)
		}
		src := results[0].ns
		if !poll.Wait(5*time.Second, func() bool {
			_, err := nstest.Exec(src, "ping", "-c", "1", "-W", "1", ip)
			return err == nil
		}) {
			t.Fatalf("%s (new owner of %s on node 3) unreachable from node 1", name, ip)
		}
	}
}

// Three managers: the leader is killed and the survivors still create
// networks and attach (must-show 4).
func TestThreeManagersSurviveLeaderLoss(t *testing.T) {
	lab := newLab(t, "we2e-mgr")
	hosts := []*nstest.Weftd{host(t, lab, "h1", 1), host(t, lab, "h2", 2), host(t, lab, "h3", 3)}
	cli(t, hosts[0], "cluster", "init", "--default-addr-pool", "198.19.0.0/16")
	token := tokenRE.FindString(cli(t, hosts[0], "cluster", "join-token", "-q", "manager"))
	for _, h := range hosts[1:] {
		cli(t, h, "cluster", "join", "--token", token, hosts[0].IP.String()+":2377")
	}
	for _, h := range hosts {
		for _, n := range nodeList(t, h) {
			if n.Role != "manager" {
				t.Fatalf("node ls on %s: %s is a %s; want three managers", h.Name, n.ID, n.Role)
			}
		}
	}
	leader := leaderHost(t, hosts)
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	var survivors []*nstest.Weftd
	for _, h := range hosts {
		if h != leader {
			survivors = append(survivors, h)
		}
	}
	killed := time.Now()
	var out string
	if !poll.Wait(15*time.Second, func() bool {
		var err error
		out, err = survivors[0].CLI("network", "create", "--attachable", "after-failover")
		return err == nil
	}) {
		t.Fatalf("network create on a survivor kept failing after the leader died: %s", out)
	}
	t.Logf("network create worked %s after the leader was killed", time.Since(killed).Round(100*time.Millisecond))
	for i, h := range survivors {
		ns, err := lab.Container(fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		cli(t, h, "attach", "--network", "after-failover", ns)
	}
}

// leaderHost finds the host whose node node ls calls Leader.
func leaderHost(t *testing.T, hosts []*nstest.Weftd) *nstest.Weftd {
	t.Helper()
	out := cli(t, hosts[0], "node", "ls")
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "Leader") {
			continue
		}
		for _, h := range hosts {
			if strings.Contains(line, h.IP.String()+":2377") {
				return h
			}
		}
	}
	t.Fatalf("no leader in node ls:\n%s", out)
	return nil
}

// A wrong or rotated token and a TLS client without a node certificate are
// refused on 2377; a memberlist node without the gossip key is not admitted
// on 7946 (must-show 6).
func TestClusterRefusesStrangers(t *testing.T) {
	lab := newLab(t, "we2e-auth")
	hosts := newCluster(t, lab, 2)
	manager := hosts[0].IP.String() + ":2377"
	intruder := host(t, lab, "h3", 3)

	t.Run("wrong token", func(t *testing.T) {
		good := tokenRE.FindString(cli(t, hosts[0], "cluster", "join-token", "-q", "worker"))
		bad := good[:len(good)-4] + "aaaa"
		out, err := intruder.CLI("cluster", "join", "--token", bad, manager)
		if err == nil || !strings.Contains(err.Error()+out, "invalid join token") {
			t.Fatalf("join with a wrong secret: got %v %s; want it refused as an invalid join token", err, out)
		}
	})
	t.Run("rotated token", func(t *testing.T) {
		old := tokenRE.FindString(cli(t, hosts[0], "cluster", "join-token", "-q", "worker"))
		cli(t, hosts[0], "cluster", "join-token", "--rotate", "worker")
		out, err := intruder.CLI("cluster", "join", "--token", old, manager)
		if err == nil || !strings.Contains(err.Error()+out, "rotated") {
			t.Fatalf("join with a rotated token: got %v %s; want it refused", err, out)
		}
	})
	t.Run("a data path that is not weftd's", func(t *testing.T) {
		good := tokenRE.FindString(cli(t, hosts[0], "cluster", "join-token", "-q", "worker"))
		out, err := intruder.CLI("cluster", "join", "--token", good, "--data-path-addr", "198.18.0.99", manager)
		if err == nil || !strings.Contains(err.Error()+out, "differs from weftd's data path") {
			t.Fatalf("join with another data path: got %v %s; want it refused", err, out)
		}
	})
	t.Run("TLS client without a node certificate", func(t *testing.T) {
		var status int
		var body string
		err := nstest.Do(intruder.NS, func() error {
			conn, err := tls.Dial("tcp", manager, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write([]byte("H")); err != nil {
				return err
			}
			fmt.Fprintf(conn, "GET /v1/state HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufioReader(conn), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			status, body = resp.StatusCode, string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized || !strings.Contains(body, "node certificate") {
			t.Fatalf("state without a certificate: got %d %s; want 401 asking for a node certificate", status, body)
		}
	})
	t.Run("a worker that leaves is gone at once, can join again, and node rm removes a dead one", func(t *testing.T) {
		worker := hosts[1]
		listed := func(id string) bool { return strings.Contains(cli(t, hosts[0], "node", "ls"), id) }
		workerID := func() string {
			for _, n := range nodeList(t, hosts[0]) {
				if n.Role == "worker" {
					return n.ID
				}
			}
			return ""
		}
		id := workerID()
		cli(t, worker, "cluster", "leave")
		if !poll.Wait(2*time.Second, func() bool { return !listed(id) }) {
			t.Fatalf("the worker that left is still listed:\n%s", cli(t, hosts[0], "node", "ls"))
		}
		if out, err := worker.CLI("node", "ls"); err == nil || !strings.Contains(err.Error()+out, "not part of a cluster") {
			t.Fatalf("node ls on the node that left: got %v %s; want 'not part of a cluster'", err, out)
		}
		token := tokenRE.FindString(cli(t, hosts[0], "cluster", "join-token", "-q", "worker"))
		cli(t, worker, "cluster", "join", "--token", token, manager) // the same host and address again
		id = workerID()
		if err := worker.Kill(); err != nil {
			t.Fatal(err)
		}
		if !poll.Wait(5*time.Second, func() bool {
			for _, n := range nodeList(t, hosts[0]) {
				if n.ID == id {
					return n.Status == "Down"
				}
			}
			return false
		}) {
			t.Fatalf("the killed worker is not Down:\n%s", cli(t, hosts[0], "node", "ls"))
		}
		cli(t, hosts[0], "node", "rm", id)
		if listed(id) {
			t.Fatalf("node rm left the node listed:\n%s", cli(t, hosts[0], "node", "ls"))
		}
	})
	t.Run("gossip without the key", func(t *testing.T) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		var agent *gossip.Agent
		err := nstest.Do(intruder.NS, func() error {
			cfg := gossip.DefaultConfig()
			cfg.NodeID, cfg.BindAddr, cfg.BindPort, cfg.Keys = "intruder", intruder.IP.String(), 7947, [][]byte{key}
			var err error
			agent, err = gossip.New(cfg, nopHandler{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer agent.Shutdown()
		// The join's push/pull is all the intruder sends, having no members
		// to gossip with, and Join returns once hosts[0] has answered it:
		// hosts[0] has dealt with the intruder when the call fails.
		if n, err := agent.Join([]string{net.JoinHostPort(hosts[0].IP.String(), "7946")}); err == nil {
			t.Fatalf("the intruder joined %d nodes; want an error", n)
		}
		out := cli(t, hosts[0], "node", "ls")
		if strings.Contains(out, "intruder") {
			t.Fatalf("a gossip node without the key was admitted:\n%s", out)
		}
		for _, m := range agent.Members() {
			if m.ID != "intruder" {
				t.Fatalf("the intruder sees member %s; want no one", m.ID)
			}
		}
	})
}

type nopHandler struct{}

func (nopHandler) RecordsChanged(string)       {}
func (nopHandler) MemberChanged(gossip.Member) {}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// A join that fails on the joining side after the managers admitted the
// node (here: its gossip port is taken) is undone: the node is not left in
// node ls, and the same host joins once the port is free.
func TestFailedJoinIsUndone(t *testing.T) {
	lab := newLab(t, "we2e-undo")
	hosts := newCluster(t, lab, 1)
	h1 := hosts[0]
	h2 := host(t, lab, "h2", 2)
	token := strings.TrimSpace(cli(t, h1, "cluster", "join-token", "-q", "worker"))
	squatter, err := nstest.ListenUDP(h2.NS, 7946)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h2.CLI("cluster", "join", "--token", token, h1.IP.String()+":2377")
	squatter.Close()
	if err == nil {
		t.Fatalf("join with the gossip port taken succeeded:\n%s", out)
	}
	t.Logf("join refused as expected: %v", err)
	if nodes := nodeList(t, h1); len(nodes) != 1 {
		t.Fatalf("node ls after the failed join lists %d nodes; want only the manager: %+v", len(nodes), nodes)
	}
	cli(t, h2, "cluster", "join", "--token", token, h1.IP.String()+":2377")
	if !poll.Wait(5*time.Second, func() bool {
		nodes := nodeList(t, h1)
		return len(nodes) == 2 && nodes[0].Status == "Ready" && nodes[1].Status == "Ready"
	}) {
		t.Errorf("node ls after the second join: %+v; want two nodes Ready", nodeList(t, h1))
	}
}
