package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/weftnet/weft/control/pki"
)

func TestApplyNodes(t *testing.T) {
	withAllocs := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"),
		mkAlloc("e1", "net1", "n2", "c1", ""), mkAlloc("e2", "net1", "n2", "c2", ""), mkAlloc("e3", "net1", "n3", "c3", ""))
	runApplyCases(t, []applyCase{
		{
			name: "add", cmd: addNode("n1", pki.RoleManager, "198.18.0.1:4789"),
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "returned ID", got.(Node).ID, "n1")
				wantEqual(t, "stored role", s.Nodes["n1"].Role, pki.RoleManager)
				wantEqual(t, "stored joined", s.Nodes["n1"].Joined, t0)
			},
		},
		{name: "add duplicate", setup: nodes, cmd: addNode("n1", pki.RoleWorker, ""), err: "node n1 already exists", kind: ErrConflict},
		{name: "add empty ID", cmd: addNode("", pki.RoleWorker, ""), err: "empty node ID", kind: ErrInvalid},
		{name: "add bad role", cmd: addNode("n9", "boss", ""), err: `add node n9: role "boss" is neither manager nor worker`, kind: ErrInvalid},
		{name: "add no node", cmd: Command{Op: OpAddNode}, err: "command has no node", kind: ErrInvalid},
		{
			name: "add again with the same key", setup: with(nodes, keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "k9")),
			cmd: keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "k9", func(n *Node) { n.Hostname, n.Joined = "again", t0.Add(time.Hour) }),
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "nodes", len(s.Nodes), 4)
				wantEqual(t, "stored hostname", s.Nodes["n9"].Hostname, "again")
				wantEqual(t, "stored joined", s.Nodes["n9"].Joined, t0)
			},
		},
		{
			name: "add again with another key", setup: with(nodes, keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "k9")),
			cmd: keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "other"), err: "node n9 already exists", kind: ErrConflict,
		},
		{
			name: "add again from another data address", setup: with(nodes, keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "k9")),
			cmd: keyed(addNode("n9", pki.RoleWorker, "198.18.0.8:4789"), "k9"), err: "node n9 already exists", kind: ErrConflict,
		},
		{
			name: "add again in another role", setup: with(nodes, keyed(addNode("n9", pki.RoleWorker, "198.18.0.9:4789"), "k9")),
			cmd: keyed(addNode("n9", pki.RoleManager, "198.18.0.9:4789"), "k9"), err: "node n9 already exists", kind: ErrConflict,
		},
		{name: "add duplicate data address", setup: nodes, cmd: addNode("n9", pki.RoleWorker, "198.18.0.2:4789"), err: "data address 198.18.0.2:4789 already used by node n2", kind: ErrConflict},
		{
			name: "remove", setup: nodes, cmd: Command{Op: OpRemoveNode, NodeID: "n3"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "nodes left", len(s.Nodes), 2) },
		},
		{name: "remove unknown", setup: nodes, cmd: Command{Op: OpRemoveNode, NodeID: "n9"}, err: "remove node n9: no such node", kind: ErrNotFound},
		{
			name: "remove refused while holding allocations", setup: withAllocs, cmd: Command{Op: OpRemoveNode, NodeID: "n2"},
			err: "node n2 holds allocations: c1 (198.19.1.2) on network appnet, c2 (198.19.1.3) on network appnet", kind: ErrConflict,
		},
		{
			name: "remove forced drops allocations", setup: withAllocs, cmd: Command{Op: OpRemoveNode, NodeID: "n2", Force: true},
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "released", len(got.([]Allocation)), 2)
				wantEqual(t, "allocations left", len(s.Allocations), 1)
				wantEqual(t, "survivor", s.Allocations["e3"].Node, "n3")
				if _, ok := s.Nodes["n2"]; ok {
					t.Errorf("node n2 still present")
				}
			},
		},
		{name: "remove only manager", setup: nodes, cmd: Command{Op: OpRemoveNode, NodeID: "n1", Force: true}, err: "remove node n1: it is the only manager", kind: ErrConflict},
		{
			name: "set role promote", setup: nodes, cmd: Command{Op: OpSetRole, NodeID: "n2", Role: pki.RoleManager},
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "returned role", got.(Node).Role, pki.RoleManager)
				wantEqual(t, "stored role", s.Nodes["n2"].Role, pki.RoleManager)
			},
		},
		{
			name: "set role demote with another manager", setup: with(nodes, Command{Op: OpSetRole, NodeID: "n2", Role: pki.RoleManager}),
			cmd:   Command{Op: OpSetRole, NodeID: "n1", Role: pki.RoleWorker},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "n1 role", s.Nodes["n1"].Role, pki.RoleWorker) },
		},
		{name: "set role demote only manager", setup: nodes, cmd: Command{Op: OpSetRole, NodeID: "n1", Role: pki.RoleWorker}, err: "it is the only manager", kind: ErrConflict},
		{name: "set role unknown node", setup: nodes, cmd: Command{Op: OpSetRole, NodeID: "n9", Role: pki.RoleWorker}, err: "set role of node n9: no such node", kind: ErrNotFound},
		{name: "set role bad role", setup: nodes, cmd: Command{Op: OpSetRole, NodeID: "n2", Role: "boss"}, err: `role "boss" is neither`, kind: ErrInvalid},
		{
			name: "release node", setup: withAllocs, cmd: Command{Op: OpReleaseNode, NodeID: "n2"},
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "released", len(got.([]Allocation)), 2)
				wantEqual(t, "allocations left", len(s.Allocations), 1)
				wantEqual(t, "node kept", s.Nodes["n2"] != nil, true)
			},
		},
		{
			name: "release node twice is a no-op", setup: with(withAllocs, Command{Op: OpReleaseNode, NodeID: "n2"}), cmd: Command{Op: OpReleaseNode, NodeID: "n2"},
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "released", len(got.([]Allocation)), 0)
				wantEqual(t, "allocations left", len(s.Allocations), 1)
			},
		},
	})
}

// keyed gives an AddNode command's node a public key, and edits it.
func keyed(c Command, key string, edits ...func(*Node)) Command {
	n := *c.Node
	n.PublicKey = []byte(key)
	for _, e := range edits {
		e(&n)
	}
	c.Node = &n
	return c
}

// A node's key is recorded once and never replaced.
func TestSetNodeKey(t *testing.T) {
	s := NewState()
	s.Nodes["n1"] = &Node{ID: "n1", Role: pki.RoleWorker}
	for _, tt := range []struct {
		name string
		id   string
		key  []byte
		kind error
	}{
		{"first report", "n1", []byte{1}, nil},
		{"the same again", "n1", []byte{1}, nil},
		{"another key", "n1", []byte{2}, ErrConflict},
		{"empty", "n1", nil, ErrInvalid},
		{"no such node", "x", []byte{1}, ErrNotFound},
	} {
		_, err := s.Apply(Command{Op: OpSetNodeKey, NodeID: tt.id, PublicKey: tt.key})
		if tt.kind == nil && err != nil || tt.kind != nil && !errors.Is(err, tt.kind) {
			t.Errorf("%s: %v; want %v", tt.name, err, tt.kind)
		}
	}
	if k := s.Nodes["n1"].PublicKey; !bytes.Equal(k, []byte{1}) {
		t.Errorf("key %v; want [1]", k)
	}
	if err := CheckWorkerOp("n2", Command{Op: OpSetNodeKey, NodeID: "n1"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("a worker reporting another's key: %v; want ErrForbidden", err)
	}
}
