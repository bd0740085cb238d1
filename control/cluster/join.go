package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// Timeouts of a join's calls that the caller's context does not bound
// more tightly.
const (
	voterTimeout = 30 * time.Second // a new manager's raft voter change
	undoTimeout  = 10 * time.Second // forgetting a node whose join failed
)

// JoinRequest is how a node joins a cluster.
type JoinRequest struct {
	// Token names the cluster's CA and the role's join secret.
	Token pki.Token
	// Via is the 2377 address of the manager that admits the node.
	Via string
	// Advertise is where the others reach this node's 2377 (if the token
	// makes it a manager); its address is also the gossip address.
	Advertise netip.AddrPort
	// Listen is the 2377 bind address of a manager; empty means every
	// address, on Advertise's port.
	Listen string
}

// AdmitError is a join that the manager refused, or whose answer never
// came back: the manager may have recorded the node then, and a retry from
// the same state directory is admitted as the same node (see
// loadPendingJoin).
type AdmitError struct {
	Via string
	Err error
}

func (e *AdmitError) Error() string { return fmt.Sprintf("join %s: %v", e.Via, e.Err) }

func (e *AdmitError) Unwrap() error { return e.Err }

// Join makes this node a member of the cluster that req.Token names: it
// asks the manager at req.Via to admit it (having checked, before sending
// the secret, that the manager's CA is the token's), takes the identity
// the cluster issues, on a manager starts raft and becomes a voter, starts
// gossip, and saves its files. A failure after the admission is undone:
// the admitting manager is asked to forget the node. The node's ID and key
// are saved before the manager is asked, so that a join whose answer is
// lost can be retried. Every call ends when ctx does.
func Join(ctx context.Context, cfg Config, req JoinRequest) (*Node, error) {
	cfg = cfg.withDefaults()
	inf := newInfo(req.Advertise, req.Listen, "")
	var key *ecdsa.PrivateKey
	var err error
	if inf.NodeID, key, err = loadPendingJoin(cfg.StateDir); err != nil {
		return nil, err
	}
	resp, err := admit(ctx, cfg, inf, key, req)
	if err != nil {
		return nil, err
	}
	n, files, err := joined(ctx, cfg, inf, key, resp, req.Via)
	if err == nil {
		err = saveFiles(cfg.StateDir, n.info, files)
	}
	if err == nil {
		removePendingJoin(cfg.StateDir)
	}
	if err != nil {
		if n != nil {
			_ = n.Close()
			n.undoJoin(req.Via)
		}
		removeFiles(cfg.StateDir)
		return nil, err
	}
	n.log.Info("joined cluster", "node", n.nodeID, "role", n.role, "managers", inf.Managers)
	return n, nil
}

// admit asks the manager at req.Via to admit this node and checks that the
// CA it sent is the one the token names.
func admit(ctx context.Context, cfg Config, inf info, key *ecdsa.PrivateKey, req JoinRequest) (AdmitResponse, error) {
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return AdmitResponse{}, err
	}
	resp, err := Admit(ctx, req.Via, req.Token, AdmitRequest{
		NodeID: inf.NodeID, Hostname: cfg.Hostname, PublicKey: pub, Addr: inf.Advertise, DataAddr: cfg.DataAddr,
		GossipAddr: netip.AddrPortFrom(inf.Advertise.Addr(), cfg.GossipPort),
	})
	if err != nil {
		return resp, &AdmitError{req.Via, err}
	}
	if ca, err := pki.ParseCertPEM(resp.CAPEM); err != nil || pki.Fingerprint(ca) != req.Token.Fingerprint {
		return resp, &AdmitError{req.Via, fmt.Errorf("the manager sent a CA that is not the one the token names")}
	}
	return resp, nil
}

// joined builds the node from an admission: identity, manager side and raft
// voter if it joined as a manager, gossip. Once the node has an identity it
// is returned even with an error, so that the caller can undo the join.
func joined(ctx context.Context, cfg Config, inf info, key *ecdsa.PrivateKey, resp AdmitResponse, via string) (*Node, identityFiles, error) {
	inf.Role, inf.Managers, inf.GossipPeers, inf.GossipKeys = resp.Role, resp.Managers, resp.GossipPeers, resp.GossipKeys
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		return nil, identityFiles{}, err
	}
	files := identityFiles{cert: resp.CertPEM, key: keyPEM, ca: resp.CAPEM, caKey: resp.CAKeyPEM}
	id, err := pki.NewIdentity(files.cert, files.key, files.ca)
	if err != nil {
		return nil, files, fmt.Errorf("the certificate the cluster issued: %w", err)
	}
	n := newNode(cfg, inf, id)
	if n.IsManager() {
		if n.ca, err = pki.LoadCA(files.ca, files.caKey); err != nil {
			return n, files, err
		}
		if err := n.startManager(false); err != nil {
			return n, files, err
		}
		vctx, cancel := context.WithTimeout(ctx, voterTimeout)
		defer cancel()
		// Ask the manager that admitted us: it has recorded this node.
		if err := n.client.At(via).AddVoter(vctx, n.nodeID, inf.Advertise.String()); err != nil {
			return n, files, fmt.Errorf("become a raft voter: %w", err)
		}
	}
	return n, files, n.startGossip()
}

// undoJoin asks the manager that admitted this node to forget it again,
// after the join failed on this side, so that no node that never ran stays
// listed Down. If that fails, the node has to be removed with node rm.
func (n *Node) undoJoin(via string) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	at := n.client.At(via)
	if n.IsManager() {
		// It may not have become a voter: an error here is expected then.
		_ = at.RemoveVoter(ctx, n.nodeID)
	}
	if err := at.Apply(ctx, store.Command{Op: store.OpRemoveNode, NodeID: n.nodeID}, nil); err != nil {
		n.log.Warn("the failed join left this node in the cluster's records; remove it with 'weft node rm'", "node", n.nodeID, "err", err)
		return
	}
	n.log.Info("failed join undone: the cluster forgot this node", "node", n.nodeID)
}
