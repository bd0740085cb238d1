package cluster

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// Node is this daemon's membership of a cluster: its identity, the client
// that reaches the managers, its gossip agent, and on managers the 2377
// listener, the raft store and the manager API. Init, Join and Resume make
// one, doing all their network and disk work in the caller's goroutine and
// taking no lock of the caller's. Start sets it following the cluster;
// Close stops it, Leave takes it out of the cluster. Its methods are safe
// for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	nodeID    string         // fixed
	role      pki.Role       // fixed
	advertise netip.AddrPort // fixed: 2377, as others reach it
	id        *pki.Identity
	client    *Client
	agent     *gossip.Agent
	verifier  *gossipTrust  // what gossip is checked against
	kick      chan struct{} // a poll wanted now (see nodeKeys.Verify)

	// managers only
	ca      *pki.CA
	mux     *Mux
	raftTr  *raft.NetworkTransport
	store   *store.Store
	manager *Manager
	api     *apiServers

	mu      sync.Mutex // guards the fields below; never held across I/O
	info    info       // changed by the node's goroutine once started
	started bool
	closed  bool

	ctx       context.Context // ends when the node stops
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the node's goroutine
	closeOnce sync.Once
	known     map[string]string // node ID → gossip address, from the managers; the goroutine's own
}

// ErrNotManager is returned for what only a manager may do.
var ErrNotManager = errors.New("this node is not a manager")

// newNode returns a node of inf with identity id, not yet serving.
func newNode(cfg Config, inf info, id *pki.Identity) *Node {
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: cfg.Logger, nodeID: inf.NodeID, role: inf.Role, advertise: inf.Advertise, id: id, info: inf,
		client: NewClient(id.ClientConfig(), inf.Managers), ctx: ctx, cancel: cancel, known: map[string]string{},
		kick: make(chan struct{}, 1),
	}
	n.verifier = newGossipTrust(inf.NodeID, id.Leaf.PublicKey, n.pollSoon)
	return n
}

// pollSoon asks the node's goroutine for a poll now, without waiting.
func (n *Node) pollSoon() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// newInfo is the membership of a new node advertising 2377 at advertise
// and listening on listen (empty: every address, advertise's port).
func newInfo(advertise netip.AddrPort, listen string, role pki.Role) info {
	if listen == "" {
		listen = netip.AddrPortFrom(netip.IPv4Unspecified(), advertise.Port()).String()
	}
	return info{NodeID: newID(), Role: role, Advertise: advertise, Listen: listen, Managers: []string{advertise.String()}}
}

// newID returns 25 random hex digits: a node's ID, or a cluster's.
func newID() string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])[:25]
}

// ID returns this node's ID.
func (n *Node) ID() string { return n.nodeID }

// Role returns this node's role.
func (n *Node) Role() pki.Role { return n.role }

// IsManager reports whether this node is a manager.
func (n *Node) IsManager() bool { return n.role == pki.RoleManager }

// Managers returns the 2377 addresses of the managers this node asks.
func (n *Node) Managers() []string { return n.client.Managers() }

// Agent returns this node's gossip agent.
func (n *Node) Agent() *gossip.Agent { return n.agent }

// GossipKeys returns the gossip keys this node uses, the primary first.
func (n *Node) GossipKeys() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.info.GossipKeys)
}

// Apply sends a command to the leader and decodes its result into out
// (may be nil).
func (n *Node) Apply(ctx context.Context, cmd store.Command, out any) error {
	if n.manager != nil {
		return n.manager.Apply(ctx, cmd, out)
	}
	return n.client.Apply(ctx, cmd, out)
}

// State fetches the cluster state as the leader has it, so that a write
// this node just made through the leader is always seen; a manager that
// knows no leader answers from its own replica.
func (n *Node) State(ctx context.Context) (*store.State, error) {
	if n.manager != nil {
		return n.manager.State(ctx)
	}
	return n.client.State(ctx)
}

// Leader names the raft leader: as this manager's raft knows it, or as a
// manager answers a worker.
func (n *Node) Leader(ctx context.Context) (Leader, error) {
	if n.store == nil {
		return n.client.Leader(ctx)
	}
	id, addr := n.store.Leader()
	return Leader{ID: id, Addr: string(addr)}, nil
}

// RaftStats returns what this manager's raft reports of itself, and false
// on a worker.
func (n *Node) RaftStats() (store.RaftStats, bool) {
	if n.store == nil {
		return store.RaftStats{}, false
	}
	return n.store.RaftStats(), true
}

// UnauthDropped returns how many 2377 connections without a certificate
// this manager closed or refused because their cap was reached; false on
// a worker.
func (n *Node) UnauthDropped() (uint64, bool) {
	if n.mux == nil {
		return 0, false
	}
	return n.mux.UnauthDropped(), true
}

// RaftServers returns the raft configuration as this manager holds it;
// ErrNotManager on a worker.
func (n *Node) RaftServers() ([]raft.Server, error) {
	if n.store == nil {
		return nil, ErrNotManager
	}
	return n.store.Servers()
}

// GossipKeyGenerations returns the generation and creation time of each
// gossip key in this manager's replica, newest first, without the keys; nil
// on a worker.
func (n *Node) GossipKeyGenerations() []store.Key {
	if n.store == nil {
		return nil
	}
	var out []store.Key
	n.store.Read(func(s *store.State) {
		for _, k := range s.GossipKeys {
			out = append(out, store.Key{Generation: k.Generation, Created: k.Created})
		}
	})
	return out
}

// startManager opens the 2377 listener, the raft store and the manager API.
func (n *Node) startManager(bootstrap bool) error {
	listen := n.info.Listen // fixed
	ln, err := tls.Listen("tcp", listen, n.id.JoinServerConfig())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	n.mux = NewMux(ln, n.cfg.UnauthConns, n.log)
	go n.mux.Serve()
	adv := net.TCPAddrFromAddrPort(n.advertise)
	n.raftTr = NewRaftTransport(n.mux, n.id.ClientConfig(), adv, slogWriter{n.log})
	scfg := n.cfg.Raft
	scfg.NodeID, scfg.Dir, scfg.Transport, scfg.Bootstrap, scfg.Logger = n.nodeID, raftDir(n.cfg.StateDir), n.raftTr, bootstrap, n.log
	if n.store, err = store.Open(scfg); err != nil {
		_ = n.Close()
		return fmt.Errorf("open the cluster store: %w", err)
	}
	n.mux.AllowRaft(n.isVoter)
	n.manager = NewManager(n.store, n.ca, n.client, n.log)
	n.api = serveAPI(n.manager.Handler(), n.mux, n.cfg.UnauthIdleTimeout)
	return nil
}

// startGossip runs the gossip agent; Start joins its peers.
func (n *Node) startGossip() error {
	cfg := n.cfg.Gossip
	cfg.NodeID = n.nodeID
	cfg.BindAddr = n.advertise.Addr().String()
	cfg.BindPort = int(n.cfg.GossipPort)
	cfg.AdvertiseAddr, cfg.AdvertisePort = cfg.BindAddr, cfg.BindPort
	cfg.Meta = gossip.NodeMeta{Role: n.role, VTEP: n.cfg.DataAddr, Hostname: n.cfg.Hostname}
	cfg.Keys = n.GossipKeys()
	cfg.Logger = n.log
	key, ok := n.id.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("start gossip: node key %T cannot sign", n.id.Cert.PrivateKey)
	}
	cfg.Signer, cfg.Verifier = keySigner{key}, n.verifier
	if n.store != nil {
		n.store.Read(func(s *store.State) { n.verifier.update(s, n.nodeID) })
	}
	agent, err := gossip.New(cfg, n.cfg.Handler)
	if err != nil {
		return fmt.Errorf("start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	n.agent = agent
	return nil
}

// gossipAddr is where this node's gossip listens.
func (n *Node) gossipAddr() netip.AddrPort {
	return netip.AddrPortFrom(n.advertise.Addr(), n.cfg.GossipPort)
}

// Close stops the node without leaving the cluster, as for a daemon that
// shuts down: its goroutine, gossip (to the others it looks like a crash),
// the manager API, raft and the 2377 listener. Its files stay, for Resume.
// Close is idempotent; it may not be called from Config.OnState.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.stopLoop()
		if n.agent != nil {
			err = errors.Join(err, n.agent.Shutdown())
		}
		if n.api != nil {
			n.api.shutdown(2 * time.Second)
		}
		if n.store != nil {
			err = errors.Join(err, n.store.Close())
		}
		if n.raftTr != nil {
			_ = n.raftTr.Close()
		}
		if n.mux != nil {
			_ = n.mux.Close()
		}
	})
	return err
}

// slogWriter lets raft's transport log through slog at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("raft transport", "msg", string(p))
	return len(p), nil
}

// SetCertExpiry sets how long the node certificates the managers issue
// from now on are valid; every node renews its own with the new lifetime
// when a third of the old one is left. Only managers may.
func (n *Node) SetCertExpiry(ctx context.Context, d time.Duration) error {
	return n.Apply(ctx, store.Command{Op: store.OpSetCertExpiry, CertExpiry: d}, nil)
}

// isVoter reports whether a manager may talk raft to this one: it is in
// this manager's raft configuration, so a removed manager is refused at
// once. A manager that joins has no configuration until the leader sends
// it one, and takes the leader's streams until then.
func (n *Node) isVoter(nodeID string) bool {
	servers, err := n.store.Servers()
	if err != nil {
		return false
	}
	if len(servers) == 0 {
		return true
	}
	return slices.ContainsFunc(servers, func(s raft.Server) bool { return string(s.ID) == nodeID })
}
