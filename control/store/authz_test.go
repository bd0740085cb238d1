package store

import "testing"

// asWorker returns c as a manager applies it on behalf of worker node.
func asWorker(node string, c Command) Command {
	c.Worker = node
	return c
}

// A command applied on behalf of a worker is held, against the state it
// is applied to, to what a worker may do: allocate for itself on an
// attachable network, release its own addresses, leave the cluster.
func TestApplyAsWorker(t *testing.T) {
	open := mkNet("net1", "open", "198.19.1.0/24", func(n *Network) { n.Attachable = true })
	closed := mkNet("net2", "closed", "198.19.2.0/24", func(n *Network) { n.Encrypted, n.Keys = true, []Key{{Key: dataKey(1)}} })
	base := with(nodes, open, closed, mkAlloc("e3", "net1", "n3", "c3", ""))
	released := func(ep string, want bool) func(*testing.T, any, *State) {
		return func(t *testing.T, _ any, s *State) {
			_, held := s.Allocations[ep]
			wantEqual(t, ep+" released", !held, want)
		}
	}
	runApplyCases(t, []applyCase{
		{name: "allocate for itself on an attachable network", setup: base, cmd: asWorker("n2", mkAlloc("e2", "net1", "n2", "c2", "")), check: wantAlloc("198.19.1.3", "")},
		{name: "allocate on a network that is not attachable", setup: base, cmd: asWorker("n2", mkAlloc("e2", "net2", "n2", "c2", "")), err: "worker n2 may not allocate on network closed: it is not attachable", kind: ErrForbidden},
		{name: "allocate for another node", setup: base, cmd: asWorker("n2", mkAlloc("e2", "net1", "n1", "c2", "")), err: "worker n2 may only allocate addresses for itself", kind: ErrForbidden},
		{name: "allocate on an unknown network", setup: base, cmd: asWorker("n2", mkAlloc("e2", "net9", "n2", "c2", "")), err: `no such network "net9"`, kind: ErrNotFound},
		{name: "release its own", setup: with(base, mkAlloc("e2", "net1", "n2", "c2", "")), cmd: asWorker("n2", Command{Op: OpRelease, EndpointID: "e2"}), check: released("e2", true)},
		{name: "release another node's", setup: base, cmd: asWorker("n2", Command{Op: OpRelease, EndpointID: "e3"}), err: "worker n2 may not release node n3's address", kind: ErrForbidden},
		{name: "release an unknown endpoint", setup: base, cmd: asWorker("n2", Command{Op: OpRelease, EndpointID: "e9"}), check: released("e3", false)},
		{name: "remove itself", setup: base, cmd: asWorker("n2", Command{Op: OpRemoveNode, NodeID: "n2"})},
		{name: "remove another node", setup: base, cmd: asWorker("n2", Command{Op: OpRemoveNode, NodeID: "n3", Force: true}), err: "worker n2 may only remove itself", kind: ErrForbidden},
		{name: "create a network", setup: base, cmd: asWorker("n2", mkNet("net3", "mine", "198.19.3.0/24")), err: "only managers may CreateNetwork", kind: ErrForbidden},
		{name: "remove a network", setup: base, cmd: asWorker("n2", Command{Op: OpRemoveNetwork, NetworkID: "net2"}), err: "only managers may RemoveNetwork", kind: ErrForbidden},
		{name: "add a data key", setup: base, cmd: asWorker("n2", addNetKey("net2", 2)), err: "only managers may AddNetworkKey", kind: ErrForbidden},
		{name: "from a node that is not a member", setup: base, cmd: asWorker("n9", mkAlloc("e2", "net1", "n9", "c2", "")), err: "node n9 is not a member of the cluster", kind: ErrForbidden},
		{name: "from a manager's node ID", setup: base, cmd: asWorker("n1", mkNet("net3", "mine", "198.19.3.0/24")), err: "only managers may CreateNetwork", kind: ErrForbidden},
	})
}

// The same commands without a worker are a manager's, and pass.
func TestApplyAsManager(t *testing.T) {
	closed := mkNet("net2", "closed", "198.19.2.0/24")
	base := with(nodes, closed, mkAlloc("e3", "net2", "n3", "c3", ""))
	runApplyCases(t, []applyCase{
		{name: "allocate on a network that is not attachable", setup: base, cmd: mkAlloc("e2", "net2", "n2", "c2", ""), check: wantAlloc("198.19.2.3", "")},
		{name: "release any node's", setup: base, cmd: Command{Op: OpRelease, EndpointID: "e3"}},
		{name: "create a network", setup: base, cmd: mkNet("net3", "mine", "198.19.3.0/24")},
	})
}
