package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/internal/freeport"
)

// Nodes in these tests run on loopback, each with ports of its own and a
// state directory of its own, with gossip and raft over real sockets: the
// whole of a node, as weftd runs it, without root.

var loopback = netip.MustParseAddr("127.0.0.1")

// testConfig returns the configuration of a node called name: fast polls,
// patient raft, quiet logs.
func testConfig(t *testing.T, name string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.DataAddr = netip.AddrPortFrom(loopback, freeport.Loopback(t))
	cfg.Hostname = name
	cfg.GossipPort = freeport.Loopback(t)
	cfg.PollInterval = 100 * time.Millisecond
	cfg.DataKeyCheck = 50 * time.Millisecond
	// Elections slow enough that a loaded machine running the race
	// detector does not make the leader step down.
	cfg.Raft.HeartbeatTimeout, cfg.Raft.ElectionTimeout, cfg.Raft.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// addrs returns an advertise address and the listen address for 2377.
func addrs(t *testing.T) (netip.AddrPort, string) {
	t.Helper()
	adv := netip.AddrPortFrom(loopback, freeport.Loopback(t))
	return adv, adv.String()
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// initNode makes the first manager of a new cluster and starts it.
func initNode(t *testing.T, cfg Config) (*Node, Tokens) {
	t.Helper()
	adv, listen := addrs(t)
	n, tokens, err := Init(testContext(t), cfg, InitRequest{Advertise: adv, Listen: listen, Pool: netip.MustParsePrefix("198.19.0.0/16")})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	n.Start()
	return n, tokens
}

// joinNode joins a node to the cluster through the manager via, and
// starts it.
func joinNode(t *testing.T, cfg Config, token pki.Token, via *Node) *Node {
	t.Helper()
	n, err := tryJoin(t, cfg, token, via.advertise.String())
	if err != nil {
		t.Fatalf("join %s: %v", cfg.Hostname, err)
	}
	n.Start()
	return n
}

// tryJoin joins a node to the cluster through the manager at via.
func tryJoin(t *testing.T, cfg Config, token pki.Token, via string) (*Node, error) {
	t.Helper()
	adv, listen := addrs(t)
	n, err := Join(testContext(t), cfg, JoinRequest{Token: token, Via: via, Advertise: adv, Listen: listen})
	if err == nil {
		t.Cleanup(func() { _ = n.Close() })
	}
	return n, err
}

// state fetches the cluster state through n.
func state(t *testing.T, n *Node) *store.State {
	t.Helper()
	st, err := n.State(testContext(t))
	if err != nil {
		t.Fatalf("state through %s: %v", n.cfg.Hostname, err)
	}
	return st
}

// isVoter reports whether id is a raft voter in m's configuration.
func isVoter(t *testing.T, m *Node, id string) bool {
	t.Helper()
	servers, err := m.RaftServers()
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == id && s.Suffrage == raft.Voter })
}

// allAlive reports whether every node's gossip sees all of them alive.
func allAlive(nodes ...*Node) bool {
	for _, n := range nodes {
		alive := 0
		for _, m := range n.Agent().Members() {
			if m.State == gossip.StateAlive {
				alive++
			}
		}
		if alive != len(nodes) {
			return false
		}
	}
	return true
}

// hasFiles reports whether a node's membership files are on disk.
func hasFiles(cfg Config) bool {
	_, err := os.Stat(filepath.Join(cfg.StateDir, "cluster", "info.json"))
	return err == nil
}

// refusal returns the status of a manager's refusal in err, 0 if err is
// none.
func refusal(err error) int {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Status
	}
	return 0
}
