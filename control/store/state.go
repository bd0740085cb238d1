package store

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/weftnet/weft/control/pki"
)

// VNI bounds. Networks created without a VNI get the lowest free one at or
// above MinAutoVNI; VNIs are 24 bits on the wire.
const (
	MinAutoVNI = 4096
	MaxVNI     = 1<<24 - 1
)

// MaxGossipKeys is how many gossip key generations State keeps: the newest
// (primary) and the two before it, so that a rotation never cuts off a node
// that has not yet heard of the newest key.
const MaxGossipKeys = 3

// MaxNetworkKeys is how many data key generations an encrypted network
// keeps, for the same reason.
const MaxNetworkKeys = 3

// NetworkKeyLen is the length of a network's data keys.
const NetworkKeyLen = 32

// State is the cluster's durable state. It changes only through Apply; read it
// freely but do not modify it in place when it belongs to an FSM.
type State struct {
	// Nodes by node ID.
	Nodes map[string]*Node `json:"nodes"`
	// Networks by network ID.
	Networks map[string]*Network `json:"networks"`
	// Allocations by endpoint ID.
	Allocations map[string]*Allocation `json:"allocations"`
	// GossipKeys is newest first; at most MaxGossipKeys generations are kept.
	GossipKeys []Key `json:"gossip_keys"`
	// GossipPrimary is the generation of the gossip key every node
	// encrypts with. A newer key only decrypts until every live member
	// holds it; then the leader makes it the primary (SetGossipPrimary).
	// Zero in a state from before two-phase rotation: nodes then encrypt
	// with the oldest key, which every member holds.
	GossipPrimary uint64 `json:"gossip_primary,omitempty"`
	// GossipRekey says that a node left or was removed while holding the
	// gossip keys: the leader issues a new key at once, whatever the
	// rotation period, and once every live member encrypts with it the
	// keys the node held are retired (GossipRetireBelow).
	GossipRekey bool `json:"gossip_rekey,omitempty"`
	// GossipRetireBelow, when set, is the generation of the key issued
	// for a rekey: the older keys are dropped (RetireGossipKeys) once
	// every live member encrypts with it or a newer one.
	GossipRetireBelow uint64 `json:"gossip_retire_below,omitempty"`
	// CertExpiry is how long the node certificates the managers issue
	// are valid (weft cluster init/update --cert-expiry); zero means
	// pki.NodeValidity. Nodes renew theirs when a third is left.
	CertExpiry time.Duration `json:"cert_expiry,omitempty"`
	// WorkerSecret and ManagerSecret are the join-token secrets per role.
	WorkerSecret  string `json:"worker_secret,omitempty"`
	ManagerSecret string `json:"manager_secret,omitempty"`
	// DefaultPool is carved into /DefaultPoolSize subnets for networks
	// created without one, as Docker's default address pool.
	DefaultPool     netip.Prefix `json:"default_pool"`
	DefaultPoolSize int          `json:"default_pool_size"`
}

// Node is a cluster member.
type Node struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname,omitempty"`
	// Role is pki.RoleManager or pki.RoleWorker. Only managers are raft
	// voters; workers are not raft members at all.
	Role pki.Role `json:"role"`
	// Addr is the advertised manager address (port 2377).
	Addr netip.AddrPort `json:"addr,omitzero"`
	// DataAddr is the node's VTEP (VXLAN underlay) address.
	DataAddr netip.AddrPort `json:"data_addr,omitzero"`
	// GossipAddr is the node's memberlist address.
	GossipAddr netip.AddrPort `json:"gossip_addr,omitzero"`
	Joined     time.Time      `json:"joined"`
	// PublicKey is the node's key (PKIX DER) as it joined: a join that
	// presents the same ID, role and key again is the same node retrying
	// after a lost answer, and is admitted again.
	PublicKey []byte `json:"public_key,omitempty"`
	// GossipKeyGen is the newest gossip key generation the node reported
	// installed (GossipKeyHeld).
	GossipKeyGen uint64 `json:"gossip_key_gen,omitempty"`
	// GossipPrimaryGen is the gossip key generation the node reported
	// encrypting with (GossipKeyHeld).
	GossipPrimaryGen uint64 `json:"gossip_primary_gen,omitempty"`
}

// Network is an overlay network.
type Network struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// VNI is unique in the cluster. In a CreateNetwork command zero means
	// "the lowest free VNI at or above MinAutoVNI".
	VNI    uint32       `json:"vni"`
	Subnet netip.Prefix `json:"subnet"`
	// Gateway is inside Subnet and never allocated to an endpoint.
	Gateway netip.Addr `json:"gateway,omitzero"`
	// IPRange, when set, is inside Subnet and limits allocations to it.
	IPRange    netip.Prefix `json:"ip_range,omitzero"`
	Attachable bool         `json:"attachable,omitempty"`
	Internal   bool         `json:"internal,omitempty"`
	Encrypted  bool         `json:"encrypted,omitempty"`
	// Keys are an encrypted network's data keys, newest first; at most
	// MaxNetworkKeys generations are kept. A CreateNetwork command of an
	// encrypted network carries its first key.
	Keys    []Key             `json:"keys,omitempty"`
	MTU     int               `json:"mtu,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	Created time.Time         `json:"created"`
}

// Allocation is an endpoint's address on a network.
type Allocation struct {
	EndpointID string `json:"endpoint_id"`
	NetworkID  string `json:"network_id"`
	// Node is the ID of the node the endpoint lives on.
	Node string `json:"node"`
	// Name is the endpoint's DNS name, unique per network when set.
	Name string     `json:"name,omitempty"`
	IP   netip.Addr `json:"ip"`
	// MAC is in canonical lowercase colon form.
	MAC     string   `json:"mac"`
	Aliases []string `json:"aliases,omitempty"`
}

// Key is one generation of the gossip encryption key.
type Key struct {
	Generation uint64    `json:"generation"`
	Key        []byte    `json:"key"`
	Created    time.Time `json:"created"`
}

// NewState returns an empty state whose default address pool is 10.0.0.0/8
// carved into /24s, as Docker's.
func NewState() *State {
	return &State{
		Nodes:           map[string]*Node{},
		Networks:        map[string]*Network{},
		Allocations:     map[string]*Allocation{},
		DefaultPool:     netip.MustParsePrefix("10.0.0.0/8"),
		DefaultPoolSize: 24,
	}
}

// init makes nil maps empty, as after decoding a snapshot.
func (s *State) init() {
	if s.Nodes == nil {
		s.Nodes = map[string]*Node{}
	}
	if s.Networks == nil {
		s.Networks = map[string]*Network{}
	}
	if s.Allocations == nil {
		s.Allocations = map[string]*Allocation{}
	}
}

// Clone returns a deep copy of s that shares nothing with it.
func (s *State) Clone() *State {
	c := *s
	c.Nodes = make(map[string]*Node, len(s.Nodes))
	for id, n := range s.Nodes {
		nn := *n
		nn.PublicKey = slices.Clone(n.PublicKey)
		c.Nodes[id] = &nn
	}
	c.Networks = make(map[string]*Network, len(s.Networks))
	for id, n := range s.Networks {
		nn := n.clone()
		c.Networks[id] = &nn
	}
	c.Allocations = make(map[string]*Allocation, len(s.Allocations))
	for id, a := range s.Allocations {
		aa := a.clone()
		c.Allocations[id] = &aa
	}
	c.GossipKeys = slices.Clone(s.GossipKeys)
	for i, k := range c.GossipKeys {
		c.GossipKeys[i] = k.clone()
	}
	return &c
}

// NetworkByName returns the network called name, or nil.
func (s *State) NetworkByName(name string) *Network {
	for _, n := range s.Networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NodeAllocations returns the allocations of a node, sorted by network ID
// then address.
func (s *State) NodeAllocations(node string) []*Allocation {
	return s.allocationsWhere(func(a *Allocation) bool { return a.Node == node })
}

// NetworkAllocations returns the allocations on a network, sorted by
// address.
func (s *State) NetworkAllocations(networkID string) []*Allocation {
	return s.allocationsWhere(func(a *Allocation) bool { return a.NetworkID == networkID })
}

func (s *State) allocationsWhere(keep func(*Allocation) bool) []*Allocation {
	var out []*Allocation
	for _, a := range s.Allocations {
		if keep(a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NetworkID != out[j].NetworkID {
			return out[i].NetworkID < out[j].NetworkID
		}
		return out[i].IP.Less(out[j].IP)
	})
	return out
}

// sortedNetworks returns the networks ordered by name, so that errors and
// choices that depend on iteration order are deterministic.
func (s *State) sortedNetworks() []*Network {
	out := slices.Collect(maps.Values(s.Networks))
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (n *Network) clone() Network {
	c := *n
	c.Options = maps.Clone(n.Options)
	c.Keys = slices.Clone(n.Keys)
	for i, k := range c.Keys {
		c.Keys[i] = k.clone()
	}
	return c
}

func (a *Allocation) clone() Allocation {
	c := *a
	c.Aliases = slices.Clone(a.Aliases)
	return c
}

func (k Key) clone() Key {
	k.Key = slices.Clone(k.Key)
	return k
}
