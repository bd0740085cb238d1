package cluster

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// leaderWait bounds how long a new cluster's only manager waits to lead.
const leaderWait = 10 * time.Second

// InitRequest is what the first manager of a new cluster is made with.
type InitRequest struct {
	// Advertise is where the other nodes reach this manager's 2377.
	Advertise netip.AddrPort
	// Listen is the 2377 bind address; empty means every address, on
	// Advertise's port.
	Listen string
	// Pool, if valid, is the default address pool that networks created
	// without a subnet are carved from, in subnets of PoolSize bits
	// (0 means 24).
	Pool     netip.Prefix
	PoolSize int
	// CertExpiry is how long node certificates are valid; zero means
	// pki.NodeValidity.
	CertExpiry time.Duration
}

// Tokens are the join tokens of a new cluster.
type Tokens struct {
	Worker, Manager pki.Token
}

// Init makes this node the first manager of a new cluster: its CA and
// identity, raft with this node its only voter, the cluster's first
// entries (address pool, join secrets, gossip key, this node), gossip, and
// its files. It waits for raft to elect this node, for no longer than ctx
// allows. On failure it leaves nothing behind.
func Init(ctx context.Context, cfg Config, req InitRequest) (*Node, Tokens, error) {
	cfg = cfg.withDefaults()
	inf := newInfo(req.Advertise, req.Listen, pki.RoleManager)
	ca, err := pki.NewCA(newID())
	if err != nil {
		return nil, Tokens{}, err
	}
	files, id, err := selfIssue(ca, inf, cfg.DataAddr, req.CertExpiry)
	if err != nil {
		return nil, Tokens{}, err
	}
	gossipKey := make([]byte, 32)
	_, _ = rand.Read(gossipKey)
	inf.GossipKeys = [][]byte{gossipKey}
	n := newNode(cfg, inf, id)
	n.ca = ca
	if err := n.startManager(true); err != nil {
		removeFiles(cfg.StateDir)
		return nil, Tokens{}, err
	}
	tokens, err := n.seed(ctx, req, gossipKey)
	if err == nil {
		err = n.startGossip()
	}
	if err == nil {
		err = saveFiles(cfg.StateDir, inf, files)
	}
	if err != nil {
		_ = n.Close()
		removeFiles(cfg.StateDir)
		return nil, Tokens{}, err
	}
	n.log.Info("cluster initialized", "node", n.nodeID, "advertise", inf.Advertise)
	return n, tokens, nil
}

// seed writes the first entries of a new cluster: its address pool, the
// join secrets, the gossip key and this node.
func (n *Node) seed(ctx context.Context, req InitRequest, gossipKey []byte) (Tokens, error) {
	if err := n.waitLeader(ctx); err != nil {
		return Tokens{}, err
	}
	secrets := [2]string{pki.NewSecret(), pki.NewSecret()}
	cmds := []store.Command{
		{Op: store.OpRotateSecret, Role: pki.RoleWorker, Secret: secrets[0]},
		{Op: store.OpRotateSecret, Role: pki.RoleManager, Secret: secrets[1]},
		{Op: store.OpAddGossipKey, Key: &store.Key{Key: gossipKey, Created: time.Now().UTC()}},
		{Op: store.OpAddNode, Node: n.self()},
	}
	if req.CertExpiry != 0 {
		cmds = append(cmds, store.Command{Op: store.OpSetCertExpiry, CertExpiry: req.CertExpiry})
	}
	if req.Pool.IsValid() {
		size := req.PoolSize
		if size == 0 {
			size = 24
		}
		cmds = append([]store.Command{{Op: store.OpSetDefaultPool, Pool: req.Pool, PoolSize: size}}, cmds...)
	}
	for _, cmd := range cmds {
		if err := n.Apply(ctx, cmd, nil); err != nil {
			return Tokens{}, err
		}
	}
	fp := n.ca.Fingerprint()
	return Tokens{Worker: pki.Token{Fingerprint: fp, Secret: secrets[0]}, Manager: pki.Token{Fingerprint: fp, Secret: secrets[1]}}, nil
}

// waitLeader waits for raft to know a leader, for at most leaderWait and
// no longer than ctx allows.
func (n *Node) waitLeader(ctx context.Context) error {
	limit := leaderWait
	if deadline, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(deadline))
	}
	return n.store.WaitLeader(limit)
}

// self is this node's record in the cluster.
func (n *Node) self() *store.Node {
	pub, _ := x509.MarshalPKIXPublicKey(n.id.Leaf.PublicKey) // a node key, which always marshals
	return &store.Node{
		ID: n.nodeID, Hostname: n.cfg.Hostname, Role: n.role, Addr: n.advertise, DataAddr: n.cfg.DataAddr,
		GossipAddr: n.gossipAddr(), Joined: time.Now().UTC(), PublicKey: pub,
	}
}

// selfIssue makes this node's key and a certificate signed by ca.
func selfIssue(ca *pki.CA, inf info, dataAddr netip.AddrPort, validity time.Duration) (identityFiles, *pki.Identity, error) {
	key, err := pki.NewNodeKey()
	if err != nil {
		return identityFiles{}, nil, err
	}
	cert, err := ca.Issue(inf.NodeID, inf.Role, &key.PublicKey, []net.IP{inf.Advertise.Addr().AsSlice(), dataAddr.Addr().AsSlice()}, validity)
	if err != nil {
		return identityFiles{}, nil, err
	}
	f := identityFiles{cert: cert, ca: ca.CertPEM()}
	if f.key, err = pki.MarshalKey(key); err != nil {
		return f, nil, err
	}
	if f.caKey, err = ca.KeyPEM(); err != nil {
		return f, nil, err
	}
	id, err := pki.NewIdentity(f.cert, f.key, f.ca)
	if err != nil {
		return f, nil, fmt.Errorf("cluster identity: %w", err)
	}
	return f, id, nil
}
