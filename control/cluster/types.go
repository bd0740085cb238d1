package cluster

import (
	"encoding/json"
	"net/netip"
)

// JoinRequest is what a joining node sends, after it has checked the
// manager's CA against its token.
type JoinRequest struct {
	Secret     string         `json:"secret"`
	NodeID     string         `json:"node_id"`
	Hostname   string         `json:"hostname"`
	PublicKey  []byte         `json:"public_key"` // PKIX DER
	Addr       netip.AddrPort `json:"addr"`       // its 2377 advertise address
	DataAddr   netip.AddrPort `json:"data_addr"`  // VXLAN
	GossipAddr netip.AddrPort `json:"gossip_addr"`
}

// JoinResponse is what the cluster gives a node it admits.
type JoinResponse struct {
	Role        string   `json:"role"`
	CertPEM     []byte   `json:"cert"`
	CAPEM       []byte   `json:"ca"`
	CAKeyPEM    []byte   `json:"ca_key,omitempty"` // managers only: any manager admits nodes
	Managers    []string `json:"managers"`         // 2377 addresses
	GossipPeers []string `json:"gossip_peers"`     // memberlist addresses to join
	GossipKeys  [][]byte `json:"gossip_keys"`      // newest first
}

// VoterRequest asks the leader to make a manager a raft voter.
type VoterRequest struct {
	NodeID string `json:"node_id"`
	Addr   string `json:"addr"`
}

// apiError is the body of a failed request.
type apiError struct {
	Message string `json:"message"`
}

// Result wraps a command's result as the leader returned it.
type Result struct {
	Value json.RawMessage `json:"value"`
}
