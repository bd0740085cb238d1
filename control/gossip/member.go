package gossip

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/hashicorp/memberlist"
	"github.com/weftnet/weft/control/pki"
)

// MemberState is what this agent believes about a member.
type MemberState int

const (
	// StateAlive means the member answers probes.
	StateAlive MemberState = iota
	// StateSuspect means the member missed probes and may be declared dead.
	// memberlist v0.7.0 does not tell its delegates about suspicion, so an
	// Agent reports a suspect member as alive; the value is kept for the
	// day it does.
	StateSuspect
	// StateDead means memberlist declared the member failed. Its records
	// are hidden.
	StateDead
	// StateLeft means the member left gracefully. Its records are hidden.
	StateLeft
)

// String returns the state in lower case, e.g. "alive".
func (s MemberState) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("MemberState(%d)", int(s))
}

// up reports whether records of a member in state s are visible.
func (s MemberState) up() bool { return s == StateAlive || s == StateSuspect }

// Member is a node of the gossip cluster.
type Member struct {
	ID    string         // node ID, memberlist's node name
	Addr  netip.AddrPort // gossip address
	State MemberState    // this agent's view of the member
	Meta  NodeMeta       // what the member says about itself
}

// NodeMeta is what a node tells the others about itself. It travels in
// memberlist's node meta, which is limited to memberlist.MetaMaxSize (512)
// bytes once encoded; New refuses a larger one.
type NodeMeta struct {
	Role     pki.Role       `json:"role,omitempty"` // pki.RoleManager or pki.RoleWorker
	VTEP     netip.AddrPort `json:"vtep,omitzero"`  // underlay address of the node's data plane
	Hostname string         `json:"host,omitempty"` // the host's name, for people
}

// wireMeta is NodeMeta as memberlist node meta, plus the agent's life: a
// random number drawn by New, so that news about one run of a node (a leave
// notice) is not applied to the next run under the same node ID.
type wireMeta struct {
	NodeMeta
	Life uint64 `json:"life,omitempty"`
}

// encodeMeta returns m and life as memberlist node meta.
func encodeMeta(m NodeMeta, life uint64) ([]byte, error) {
	b, err := json.Marshal(wireMeta{NodeMeta: m, Life: life})
	if err != nil {
		return nil, fmt.Errorf("encode node meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("encode node meta: %d bytes, limit %d", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeMeta parses node meta; malformed meta gives zero values and an
// error.
func decodeMeta(b []byte) (NodeMeta, uint64, error) {
	var w wireMeta
	if len(b) == 0 {
		return NodeMeta{}, 0, nil
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return NodeMeta{}, 0, fmt.Errorf("decode node meta: %w", err)
	}
	return w.NodeMeta, w.Life, nil
}

// addrOf converts memberlist's address of n.
func addrOf(n *memberlist.Node) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(n.Addr)
	return netip.AddrPortFrom(ip.Unmap(), n.Port)
}
