package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// leaveTimeout bounds a leaving node's calls to the managers.
const leaveTimeout = 10 * time.Second

// Resume brings back the membership a node saved in cfg.StateDir, as it
// was before the daemon stopped: identity, manager side, gossip (not yet
// joined: see Start). It returns nil and no error when the node is in no
// cluster.
func Resume(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	inf, files, err := loadFiles(cfg.StateDir)
	if err != nil || inf == nil {
		return nil, err
	}
	id, err := pki.NewIdentity(files.cert, files.key, files.ca)
	if err != nil {
		return nil, fmt.Errorf("cluster identity: %w", err)
	}
	n := newNode(cfg, *inf, id)
	if n.IsManager() {
		if n.ca, err = pki.LoadCA(files.ca, files.caKey); err != nil {
			return nil, err
		}
		if err := n.startManager(false); err != nil {
			return nil, err
		}
	}
	if err := n.startGossip(); err != nil {
		_ = n.Close()
		return nil, err
	}
	n.log.Info("cluster membership resumed", "node", n.nodeID, "role", n.role)
	return n, nil
}

// JoinToken returns the join token of a role, after rotating its secret
// if asked: the old token is refused from then on. Only managers hand out
// tokens.
func (n *Node) JoinToken(ctx context.Context, role pki.Role, rotate bool) (pki.Token, error) {
	if !n.IsManager() {
		return pki.Token{}, ErrNotManager
	}
	if _, err := pki.ParseRole(string(role)); err != nil {
		return pki.Token{}, err
	}
	if rotate {
		if err := n.Apply(ctx, store.Command{Op: store.OpRotateSecret, Role: role, Secret: pki.NewSecret()}, nil); err != nil {
			return pki.Token{}, err
		}
	}
	st, err := n.State(ctx)
	if err != nil {
		return pki.Token{}, err
	}
	secret := st.WorkerSecret
	if role == pki.RoleManager {
		secret = st.ManagerSecret
	}
	return pki.Token{Fingerprint: n.ca.Fingerprint(), Secret: secret}, nil
}

// RemoveNode takes another node out of the cluster: out of raft first if
// it is a manager, then out of the records, its addresses freed.
func (n *Node) RemoveNode(ctx context.Context, id string) error {
	st, err := n.State(ctx)
	if err != nil {
		return err
	}
	if o, ok := st.Nodes[id]; ok && o.Role == pki.RoleManager {
		if err := n.client.RemoveVoter(ctx, id); err != nil {
			return fmt.Errorf("remove %s from raft: %w", id, err)
		}
	}
	return n.Apply(ctx, store.Command{Op: store.OpRemoveNode, NodeID: id, Force: true}, nil)
}

// Leave takes this node out of its cluster: the managers forget it (out of
// raft first if it is a manager, while its certificate still counts; then
// out of the records, so that it can join again later from the same
// address), it leaves gossip, so that the others withdraw its endpoints at
// once, stops, and removes its files and raft log. If the managers cannot
// be told, Leave returns their error and the node keeps running, unless
// force: then it leaves anyway. It may not be called from Config.OnState.
func (n *Node) Leave(ctx context.Context, force bool) error {
	if err := n.deregister(ctx); err != nil && !force {
		return err
	}
	n.stopLoop()
	if n.agent != nil {
		_ = n.agent.Leave(2 * time.Second)
	}
	_ = n.Close()
	removeFiles(n.cfg.StateDir)
	n.log.Info("left the cluster", "node", n.nodeID)
	return nil
}

// deregister asks the managers to forget this node.
func (n *Node) deregister(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	if n.IsManager() {
		if err := n.client.RemoveVoter(ctx, n.nodeID); err != nil {
			return fmt.Errorf("leave raft: %w", err)
		}
	}
	return n.client.Apply(ctx, store.Command{Op: store.OpRemoveNode, NodeID: n.nodeID}, nil)
}
