package store

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/weftnet/weft/control/pki"
)

func validRole(role pki.Role) bool {
	_, err := pki.ParseRole(string(role))
	return err == nil
}

func (s *State) addNode(n *Node) (any, error) {
	if n == nil {
		return nil, errorf(ErrInvalid, "add node: command has no node")
	}
	if n.ID == "" {
		return nil, errorf(ErrInvalid, "add node %q: empty node ID", n.Hostname)
	}
	if !validRole(n.Role) {
		return nil, errorf(ErrInvalid, "add node %s: role %q is neither %s nor %s", n.ID, n.Role, pki.RoleManager, pki.RoleWorker)
	}
	old, again := s.Nodes[n.ID]
	if again && !sameJoiner(old, n) {
		return nil, errorf(ErrConflict, "add node %s: node %s already exists", n.ID, n.ID)
	}
	if n.DataAddr.IsValid() {
		for _, o := range s.Nodes {
			if o.DataAddr == n.DataAddr && o.ID != n.ID {
				return nil, errorf(ErrConflict, "add node %s: data address %s already used by node %s", n.ID, n.DataAddr, o.ID)
			}
		}
	}
	nn := *n
	nn.Joined = nn.Joined.UTC()
	nn.PublicKey = slices.Clone(n.PublicKey)
	if again {
		nn.Joined, nn.GossipKeyGen, nn.GossipPrimaryGen = old.Joined, old.GossipKeyGen, old.GossipPrimaryGen
	}
	s.Nodes[nn.ID] = &nn
	return nn, nil
}

// sameJoiner reports whether a node added again is the one recorded,
// retrying its join: the same role, data address and key, whose private
// half only that node holds (a certificate issued for it again is of no
// use to anyone else).
func sameJoiner(old, n *Node) bool {
	return old.Role == n.Role && old.DataAddr == n.DataAddr && len(old.PublicKey) > 0 && bytes.Equal(old.PublicKey, n.PublicKey)
}

func (s *State) removeNode(id string, force bool) (any, error) {
	n, ok := s.Nodes[id]
	if !ok {
		return nil, errorf(ErrNotFound, "remove node %s: no such node", id)
	}
	if n.Role == pki.RoleManager && s.managers() == 1 {
		return nil, errorf(ErrConflict, "remove node %s: it is the only manager", id)
	}
	allocs := s.NodeAllocations(id)
	if len(allocs) > 0 && !force {
		return nil, errorf(ErrConflict, "remove node %s: node %s holds allocations: %s",
			id, id, s.describe(allocs, func(a *Allocation) string { return "on network " + s.networkName(a.NetworkID) }))
	}
	delete(s.Nodes, id)
	if len(s.GossipKeys) > 0 {
		s.GossipRekey = true // the node holds the gossip keys: replace them
	}
	return s.releaseNode(id), nil
}

// setNodeKey records a node's key, once: a key recorded is never replaced,
// since the gossip of the node is checked against it.
func (s *State) setNodeKey(id string, key []byte) error {
	n, ok := s.Nodes[id]
	switch {
	case !ok:
		return errorf(ErrNotFound, "set key of node %s: no such node", id)
	case len(key) == 0:
		return errorf(ErrInvalid, "set key of node %s: empty key", id)
	case len(n.PublicKey) > 0 && !bytes.Equal(n.PublicKey, key):
		return errorf(ErrConflict, "set key of node %s: it has another key already", id)
	}
	n.PublicKey = slices.Clone(key)
	return nil
}

func (s *State) setRole(id string, role pki.Role) (any, error) {
	n, ok := s.Nodes[id]
	if !ok {
		return nil, errorf(ErrNotFound, "set role of node %s: no such node", id)
	}
	if !validRole(role) {
		return nil, errorf(ErrInvalid, "set role of node %s: role %q is neither %s nor %s", id, role, pki.RoleManager, pki.RoleWorker)
	}
	if n.Role == pki.RoleManager && role != pki.RoleManager && s.managers() == 1 {
		return nil, errorf(ErrConflict, "set role of node %s to %s: it is the only manager", id, role)
	}
	n.Role = role
	return *n, nil
}

func (s *State) managers() int {
	count := 0
	for _, n := range s.Nodes {
		if n.Role == pki.RoleManager {
			count++
		}
	}
	return count
}

// releaseNode drops every allocation held by node and returns copies of them.
func (s *State) releaseNode(node string) []Allocation {
	var out []Allocation
	for _, a := range s.NodeAllocations(node) {
		out = append(out, a.clone())
		delete(s.Allocations, a.EndpointID)
	}
	return out
}

// maxListed bounds how many endpoints an error message lists.
const maxListed = 10

// describe lists allocations as "c1 (198.19.1.2) WHERE, ..." for errors.
func (s *State) describe(allocs []*Allocation, where func(*Allocation) string) string {
	var b strings.Builder
	for i, a := range allocs {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(allocs)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s) %s", a.label(), a.IP, where(a))
	}
	return b.String()
}

// label is how errors name an endpoint: its name, else its ID.
func (a *Allocation) label() string {
	if a.Name != "" {
		return a.Name
	}
	return a.EndpointID
}

func (s *State) networkName(id string) string {
	if n, ok := s.Networks[id]; ok {
		return n.Name
	}
	return id
}
