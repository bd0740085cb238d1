package store

import (
	"slices"
	"testing"
)

// setNames returns the SetNames command naming endpoint ep of node.
func setNames(ep, node, name string, aliases ...string) Command {
	return Command{Op: OpSetNames, Allocation: &Allocation{EndpointID: ep, Node: node, Name: name, Aliases: aliases}}
}

// named checks that endpoint ep's allocation now has name and aliases,
// and kept its address.
func named(ep, name, ip string, aliases ...string) func(*testing.T, any, *State) {
	return func(t *testing.T, _ any, s *State) {
		t.Helper()
		a := s.Allocations[ep]
		if a == nil {
			t.Fatalf("allocation %s gone", ep)
		}
		wantEqual(t, "name", a.Name, name)
		wantEqual(t, "IP", a.IP.String(), ip)
		if !slices.Equal(a.Aliases, aliases) {
			t.Fatalf("aliases: got %q; want %q", a.Aliases, aliases)
		}
	}
}

// An endpoint's node may name it, and rename it, after it was allocated;
// no other node may, and the name stays unique on its network.
func TestApplySetNames(t *testing.T) {
	net1 := mkNet("net1", "open", "198.19.1.0/24", func(n *Network) { n.Attachable = true })
	base := with(nodes, net1, mkAlloc("e2", "net1", "n2", "", "198.19.1.2"), mkAlloc("e3", "net1", "n3", "taken", "198.19.1.3"))
	runApplyCases(t, []applyCase{
		{name: "the owner names it", setup: base, cmd: setNames("e2", "n2", "alpine2", "web"), check: named("e2", "alpine2", "198.19.1.2", "web")},
		{name: "the owner renames it", setup: with(base, setNames("e2", "n2", "old")), cmd: setNames("e2", "n2", "new"), check: named("e2", "new", "198.19.1.2")},
		{name: "keeps its own name", setup: with(base, setNames("e2", "n2", "same")), cmd: setNames("e2", "n2", "SAME", "a"), check: named("e2", "SAME", "198.19.1.2", "a")},
		{name: "a name taken on the network", setup: base, cmd: setNames("e2", "n2", "Taken"), err: "name Taken is already used on network open by node n3", kind: ErrConflict},
		{name: "another node's endpoint", setup: base, cmd: setNames("e3", "n2", "mine"), err: "endpoint e3 is node n3's, not node n2's", kind: ErrForbidden},
		{name: "an unknown endpoint", setup: base, cmd: setNames("e9", "n2", "x"), err: `no allocation for endpoint "e9"`, kind: ErrNotFound},
		{name: "no allocation", setup: base, cmd: Command{Op: OpSetNames}, err: "command has no allocation", kind: ErrInvalid},
		{name: "a worker names its own", setup: base, cmd: asWorker("n2", setNames("e2", "n2", "alpine2")), check: named("e2", "alpine2", "198.19.1.2")},
		{name: "a worker names another node's", setup: base, cmd: asWorker("n2", setNames("e3", "n3", "x")), err: "worker n2 may only name its own endpoints", kind: ErrForbidden},
	})
}
