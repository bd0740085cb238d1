package store

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/pki"
)

// Operations a Command can carry, as its Op field.
const (
	OpAddNode        = "AddNode"        // Node
	OpRemoveNode     = "RemoveNode"     // NodeID, Force
	OpSetRole        = "SetRole"        // NodeID, Role
	OpCreateNetwork  = "CreateNetwork"  // Network
	OpRemoveNetwork  = "RemoveNetwork"  // NetworkID
	OpAllocate       = "Allocate"       // Allocation
	OpRelease        = "Release"        // EndpointID
	OpReleaseNode    = "ReleaseNode"    // NodeID
	OpRotateSecret   = "RotateSecret"   // Role, Secret
	OpAddGossipKey   = "AddGossipKey"   // Key
	OpAddNetworkKey  = "AddNetworkKey"  // NetworkID, Key
	OpSetDefaultPool = "SetDefaultPool" // Pool, PoolSize
	// Gossip key rotation in two phases: each node reports the newest
	// gossip key it holds; the leader makes a key the one every node
	// encrypts with once every live member holds it.
	OpGossipKeyHeld    = "GossipKeyHeld"    // NodeID, Generation, Primary
	OpSetGossipPrimary = "SetGossipPrimary" // Generation
	OpRetireGossipKeys = "RetireGossipKeys" // Generation: the oldest kept
	OpSetCertExpiry    = "SetCertExpiry"    // CertExpiry
	// A node that joined before nodes' keys were recorded reports its own;
	// the manager takes it from the node's certificate.
	OpSetNodeKey = "SetNodeKey" // NodeID, PublicKey
	// An endpoint's node names it after it was allocated, as Docker's
	// containers are named only once the engine shows them.
	OpSetNames = "SetNames" // Allocation: EndpointID, Node, Name, Aliases
)

// Command is one change to State, as it travels through the raft log (JSON).
// Op selects the operation; the comment on each Op constant lists the fields
// it reads, and the others are ignored.
type Command struct {
	Op string `json:"op"`
	// Node is the node to add (AddNode).
	Node *Node `json:"node,omitempty"`
	// NodeID names a node (RemoveNode, SetRole, ReleaseNode).
	NodeID string `json:"node_id,omitempty"`
	// Force lets RemoveNode drop a node that still holds allocations, and
	// them with it.
	Force bool `json:"force,omitempty"`
	// Role is pki.RoleManager or pki.RoleWorker (SetRole, RotateSecret).
	Role pki.Role `json:"role,omitempty"`
	// Network is the network to create (CreateNetwork). ID and Name are
	// required; VNI, Subnet and Gateway are chosen when zero.
	Network *Network `json:"network,omitempty"`
	// NetworkID names a network (RemoveNetwork, AddNetworkKey).
	NetworkID string `json:"network_id,omitempty"`
	// Allocation is the request (Allocate; IP and MAC are chosen when
	// zero), or an allocation's new name and aliases (SetNames).
	Allocation *Allocation `json:"allocation,omitempty"`
	// EndpointID names an allocation (Release).
	EndpointID string `json:"endpoint_id,omitempty"`
	// Secret is the new join-token secret (RotateSecret).
	Secret string `json:"secret,omitempty"`
	// Key is the new gossip key (AddGossipKey); its Generation is assigned.
	Key *Key `json:"key,omitempty"`
	// Pool and PoolSize replace the default address pool (SetDefaultPool).
	Pool     netip.Prefix `json:"pool,omitzero"`
	PoolSize int          `json:"pool_size,omitempty"`
	// Generation is a gossip key generation (GossipKeyHeld,
	// SetGossipPrimary).
	Generation uint64 `json:"generation,omitempty"`
	// Primary is the gossip key generation a node encrypts with
	// (GossipKeyHeld).
	Primary uint64 `json:"primary,omitempty"`
	// CertExpiry is the lifetime of node certificates (SetCertExpiry).
	CertExpiry time.Duration `json:"cert_expiry,omitempty"`
	// PublicKey is a node's key, PKIX DER (SetNodeKey).
	PublicKey []byte `json:"public_key,omitempty"`
	// Worker, when set, is the worker node on whose behalf the command is
	// applied: Apply holds the command to what a worker may do (see
	// CheckWorkerOp). The manager that receives a command from a worker
	// sets it from the worker's certificate, whatever the worker sent;
	// managers forward it unchanged. Empty for a manager's own commands.
	Worker string `json:"worker,omitempty"`
}

// Kinds of command failure; every error Apply returns wraps one of them, so
// callers can test with errors.Is.
var (
	// ErrInvalid: the command is malformed or names a bad value.
	ErrInvalid = errors.New("invalid command")
	// ErrNotFound: the command names a node or network that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the command clashes with existing state (a duplicate
	// name, an overlapping subnet, an address in use, a node or network
	// still in use).
	ErrConflict = errors.New("conflict")
	// ErrExhausted: no VNI, subnet or address is left to hand out.
	ErrExhausted = errors.New("exhausted")
	// ErrForbidden: the worker the command is applied for may not make it.
	ErrForbidden = errors.New("forbidden")
)

// cmdError carries a full message and the kind it wraps.
type cmdError struct {
	kind error
	msg  string
}

func (e *cmdError) Error() string { return e.msg }
func (e *cmdError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &cmdError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Apply validates c against s and either applies it fully or changes nothing
// and returns an error saying what was wrong and with which input. It is
// deterministic: the same state and command always give the same result.
// A command with Worker set is refused (ErrForbidden) unless that worker
// may make it.
//
// The value returned is a copy that shares nothing with s: a Node (AddNode,
// SetRole), a Network (CreateNetwork), an Allocation (Allocate, SetNames), the released
// []Allocation (RemoveNode, ReleaseNode), the Key added (AddGossipKey,
// AddNetworkKey), or nil.
func (s *State) Apply(c Command) (any, error) {
	s.init()
	if c.Worker != "" {
		if err := s.checkWorker(c.Worker, c); err != nil {
			return nil, err
		}
	}
	switch c.Op {
	case OpAddNode:
		return s.addNode(c.Node)
	case OpRemoveNode:
		return s.removeNode(c.NodeID, c.Force)
	case OpSetRole:
		return s.setRole(c.NodeID, c.Role)
	case OpCreateNetwork:
		return s.createNetwork(c.Network)
	case OpRemoveNetwork:
		return nil, s.removeNetwork(c.NetworkID)
	case OpAllocate:
		return s.allocate(c.Allocation)
	case OpRelease:
		s.release(c.EndpointID)
		return nil, nil
	case OpReleaseNode:
		return s.releaseNode(c.NodeID), nil
	case OpRotateSecret:
		return nil, s.rotateSecret(c.Role, c.Secret)
	case OpAddGossipKey:
		return s.addGossipKey(c.Key)
	case OpAddNetworkKey:
		return s.addNetworkKey(c.NetworkID, c.Key)
	case OpSetDefaultPool:
		return nil, s.setDefaultPool(c.Pool, c.PoolSize)
	case OpGossipKeyHeld:
		return nil, s.gossipKeyHeld(c.NodeID, c.Generation, c.Primary)
	case OpSetGossipPrimary:
		return nil, s.setGossipPrimary(c.Generation)
	case OpRetireGossipKeys:
		return nil, s.retireGossipKeys(c.Generation)
	case OpSetCertExpiry:
		return nil, s.setCertExpiry(c.CertExpiry)
	case OpSetNodeKey:
		return nil, s.setNodeKey(c.NodeID, c.PublicKey)
	case OpSetNames:
		return s.setNames(c.Allocation)
	}
	return nil, errorf(ErrInvalid, "unknown command op %q", c.Op)
}
