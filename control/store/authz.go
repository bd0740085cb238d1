package store

// What a worker may do. A manager applies a worker's command with
// Command.Worker set to the worker's node ID, taken from the certificate of
// the connection it came on; Apply then holds the command to what a worker
// may do, against the state it is applied to. Since every replica applies
// the same committed log, the leader and every follower decide alike, and
// no manager's stale replica or forwarding identity enters into it.

// CheckWorkerOp returns why the worker node may never apply c, whatever the
// state: a worker may allocate addresses for itself, name them, give them back,
// remove itself from the cluster, report the gossip keys it holds and its
// own key, nothing else. A manager can refuse such a
// command before it reaches the log; Apply checks it again.
func CheckWorkerOp(node string, c Command) error {
	switch c.Op {
	case OpAllocate:
		if c.Allocation != nil && c.Allocation.Node != node {
			return errorf(ErrForbidden, "worker %s may only allocate addresses for itself", node)
		}
	case OpSetNames:
		if c.Allocation != nil && c.Allocation.Node != node {
			return errorf(ErrForbidden, "worker %s may only name its own endpoints", node)
		}
	case OpRemoveNode:
		if c.NodeID != node {
			return errorf(ErrForbidden, "worker %s may only remove itself", node)
		}
	case OpGossipKeyHeld:
		if c.NodeID != node {
			return errorf(ErrForbidden, "worker %s may only report the gossip keys it holds itself", node)
		}
	case OpSetNodeKey:
		if c.NodeID != node {
			return errorf(ErrForbidden, "worker %s may only report its own key", node)
		}
	case OpRelease:
	default:
		return errorf(ErrForbidden, "only managers may %s", c.Op)
	}
	return nil
}

// checkWorker returns why the worker node may not apply c to s: an op no
// worker may apply, a node that is not a member, an allocation on a
// network that is not attachable, or a release of another node's address.
func (s *State) checkWorker(node string, c Command) error {
	if err := CheckWorkerOp(node, c); err != nil {
		return err
	}
	if _, ok := s.Nodes[node]; !ok {
		return errorf(ErrForbidden, "node %s is not a member of the cluster", node)
	}
	switch c.Op {
	case OpAllocate:
		if c.Allocation == nil {
			return nil // Apply refuses it as malformed
		}
		if n, ok := s.Networks[c.Allocation.NetworkID]; ok && !n.Attachable {
			return errorf(ErrForbidden, "worker %s may not allocate on network %s: it is not attachable", node, n.Name)
		}
	case OpRelease:
		if a, ok := s.Allocations[c.EndpointID]; ok && a.Node != node {
			return errorf(ErrForbidden, "worker %s may not release node %s's address", node, a.Node)
		}
	}
	return nil
}
