package api

import "time"

// Peer states that are not gossip states: a VTEP this node was told about
// by a static-peer network, and one it only learned from received frames.
const (
	PeerStatic  = "static"
	PeerLearned = "learned"
)

// Peer is one VTEP this node knows, as `weft peers` shows it.
type Peer struct {
	VTEP     string `json:"VTEP"`               // underlay IP:port
	NodeID   string `json:"NodeID,omitempty"`   // cluster nodes only
	Hostname string `json:"Hostname,omitempty"` // cluster nodes only, as the node tells gossip
	Role     string `json:"Role,omitempty"`     // cluster nodes only: manager or worker
	// State is the peer's reachability: for a cluster node its gossip
	// state (alive, suspect, dead, left); otherwise PeerStatic for a VTEP
	// a static-peer network names, PeerLearned for one only seen sending.
	State string `json:"State"`
	// Networks names this node's networks the peer carries: those it has
	// endpoints on (cluster), is a peer of (static) or sent frames for
	// (learned). Empty for a cluster node with none of them.
	Networks []string `json:"Networks"`
	// LastSeen is when this node last accepted a datagram from the peer,
	// if it knows: from the data plane's per-peer counters, or for a VTEP
	// that is no peer of the data plane, the newest refresh of the MACs
	// learned behind it.
	LastSeen time.Time `json:"LastSeen,omitzero"`
	// Underlay traffic with the peer since weftd started, from the data
	// plane's per-peer counters: datagrams (VXLAN or ESP) and their UDP
	// payload bytes. Zero for a VTEP that is no peer of the data plane
	// (a learned one is counted with all such VTEPs, under "other").
	RxPackets uint64 `json:"RxPackets"`
	RxBytes   uint64 `json:"RxBytes"`
	TxPackets uint64 `json:"TxPackets"`
	TxBytes   uint64 `json:"TxBytes"`
}

// FDB entry types: where a row of the forwarding database came from.
const (
	FDBStatic  = "static"  // added by configuration; never expires
	FDBGossip  = "gossip"  // a cluster endpoint record; withdrawn with it
	FDBLearned = "learned" // learned from a received frame; ages out
)

// FDB is one network's forwarding database on this node, as `weft fdb`
// shows it.
type FDB struct {
	Network string       `json:"Network"` // empty for rows of a VNI no network of this node has
	VNI     uint32       `json:"VNI"`
	MACs    []FDBMAC     `json:"MACs"` // sorted by MAC
	IPs     []FDBIPToMAC `json:"IPs"`  // sorted by IP
}

// FDBMAC is one MAC → VTEP row.
type FDBMAC struct {
	MAC  string `json:"MAC"`
	VTEP string `json:"VTEP"` // underlay IP:port the MAC lives behind
	Type string `json:"Type"` // FDBStatic, FDBGossip or FDBLearned
	// AgeSeconds is how long ago a learned row was last refreshed; zero for
	// the other types.
	AgeSeconds float64 `json:"AgeSeconds"`
}

// FDBIPToMAC is one IP → MAC row.
type FDBIPToMAC struct {
	IP         string  `json:"IP"`
	MAC        string  `json:"MAC"`
	Type       string  `json:"Type"`       // FDBStatic, FDBGossip or FDBLearned
	AgeSeconds float64 `json:"AgeSeconds"` // as FDBMAC's
}

// NodeInfo describes one node in detail, as `weft node inspect` shows it.
type NodeInfo struct {
	ID       string `json:"ID"` // empty outside a cluster
	Hostname string `json:"Hostname"`
	// Role is manager or worker in a cluster, RoleStandalone outside one.
	Role string `json:"Role"`
	Self bool   `json:"Self"` // the node that answered
	// Status is Ready or Down, as `weft node ls` shows it.
	Status string `json:"Status"`
	// Gossip is the node's gossip state as this node sees it (alive,
	// suspect, dead, left); "unknown" for a node gossip has not met;
	// empty outside a cluster.
	Gossip        string         `json:"Gossip,omitempty"`
	ManagerStatus *ManagerStatus `json:"ManagerStatus,omitempty"` // managers only
	Addresses     NodeAddresses  `json:"Addresses"`
	// Networks names the networks the node has: for this node the ones it
	// has bridges for; for another node the cluster networks gossip says
	// it has.
	Networks []string  `json:"Networks"`
	Joined   time.Time `json:"Joined,omitzero"`
	// Version is the node's weft build; known for the answering node only.
	Version string `json:"Version,omitempty"`
}

// RoleStandalone is the role of a node that is in no cluster.
const RoleStandalone = "standalone"

// ManagerStatus is a manager's place in raft.
type ManagerStatus struct {
	Leader bool `json:"Leader"`
	// Reachability is reachable or unreachable, from this node's view.
	Reachability string `json:"Reachability"`
	// Raft is the manager's membership of the raft configuration: voter,
	// nonvoter, staging, or none; empty when the answering node is a
	// worker, which holds no copy of it.
	Raft string `json:"Raft,omitempty"`
}

// NodeAddresses are where a node listens.
type NodeAddresses struct {
	Manager  string `json:"Manager,omitempty"` // 2377: raft and the manager API; managers only
	Gossip   string `json:"Gossip,omitempty"`  // 7946 TCP and UDP
	DataPath string `json:"DataPath"`          // 4789 UDP: VXLAN
}

// Capture asks weftd for a pcap of one network's inner Ethernet frames,
// as its bridge on this node sees them.
type Capture struct {
	Network string `json:"Network"`
	// Count stops the capture after this many frames; zero means
	// DefaultCaptureCount.
	Count int `json:"Count,omitempty"`
	// Duration stops the capture after this long; zero means
	// DefaultCaptureDuration. JSON carries it in nanoseconds.
	Duration time.Duration `json:"Duration,omitempty"`
}

// Capture bounds. A capture always ends: at its count, at its duration,
// or when the client goes away.
const (
	DefaultCaptureCount    = 1000
	MaxCaptureCount        = 1_000_000
	DefaultCaptureDuration = 10 * time.Second
	MaxCaptureDuration     = time.Hour
)

// Trailers of a capture's response, read once its body has ended.
const (
	TrailerCapturePackets = "Weft-Capture-Packets" // frames written
	TrailerCaptureDropped = "Weft-Capture-Dropped" // frames the kernel dropped before weftd read them
	TrailerCaptureError   = "Weft-Capture-Error"   // why the capture ended early, if it did
)

// CaptureResult is how a capture went, from its response's trailers.
type CaptureResult struct {
	Packets int
	Dropped int
	// Err is why weftd ended the capture early; nil when it ended at its
	// count or duration.
	Err error
}
