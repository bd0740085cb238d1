package cluster

import (
	"net/netip"

	"github.com/weftnet/weft/control/pki"
)

// The manager API's routes. They appear nowhere outside this package: the
// Client's typed methods call them.
const (
	pathJoin        = "/v1/join"
	pathApply       = "/v1/apply"
	pathVoter       = "/v1/voter"
	pathVoterRemove = "/v1/voter/remove"
	pathState       = "/v1/state"
	pathLeader      = "/v1/leader"
	pathRenew       = "/v1/renew"
)

// AdmitRequest is what a joining node sends, after it has checked the
// manager's CA against its token.
type AdmitRequest struct {
	Secret     string         `json:"secret"`
	NodeID     string         `json:"node_id"`
	Hostname   string         `json:"hostname"`
	PublicKey  []byte         `json:"public_key"` // PKIX DER
	Addr       netip.AddrPort `json:"addr"`       // its 2377 advertise address
	DataAddr   netip.AddrPort `json:"data_addr"`  // VXLAN
	GossipAddr netip.AddrPort `json:"gossip_addr"`
}

// AdmitResponse is what the cluster gives a node it admits.
type AdmitResponse struct {
	Role        pki.Role `json:"role"`
	CertPEM     []byte   `json:"cert"`
	CAPEM       []byte   `json:"ca"`
	CAKeyPEM    []byte   `json:"ca_key,omitempty"` // managers only: any manager admits nodes
	Managers    []string `json:"managers"`         // 2377 addresses
	GossipPeers []string `json:"gossip_peers"`     // memberlist addresses to join
	GossipKeys  [][]byte `json:"gossip_keys"`      // newest first
}

// VoterRequest asks the leader to make a manager a raft voter, or to take
// one out of raft (Addr unused).
type VoterRequest struct {
	NodeID string `json:"node_id"`
	Addr   string `json:"addr"`
}

// Leader names the raft leader as a manager sees it.
type Leader struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// apiError is the body of a failed request.
type apiError struct {
	Message string `json:"message"`
}

// RenewResponse is a node's renewed certificate.
type RenewResponse struct {
	CertPEM []byte `json:"cert"`
}
