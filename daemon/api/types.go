// Package api is the local HTTP API between the weft CLI and weftd: its
// request and response types and a client for a unix socket.
package api

import "time"

// DefaultHost is where weftd listens unless told otherwise.
const DefaultHost = "unix:///run/weft/weft.sock"

// NetworkCreate asks for a network. With a VNI or peers it is a static-peer
// network on this host only; otherwise a cluster-wide network, which needs
// the node to be in a cluster.
type NetworkCreate struct {
	Name       string            `json:"Name"`
	Static     bool              `json:"Static,omitempty"` // a static-peer network (the CLI sets it for --vni or --peer)
	VNI        uint32            `json:"VNI,omitempty"`
	Peers      []string          `json:"Peers,omitempty"`   // underlay VTEPs, IP or IP:port
	Subnet     string            `json:"Subnet,omitempty"`  // CIDR; cluster networks take one from the pool when empty
	Gateway    string            `json:"Gateway,omitempty"` // reserved address in Subnet
	IPRange    string            `json:"IPRange,omitempty"` // cluster networks: allocate only from this CIDR
	MTU        int               `json:"MTU,omitempty"`     // 0: the underlay's MTU less VXLAN overhead
	Attachable bool              `json:"Attachable,omitempty"`
	Internal   bool              `json:"Internal,omitempty"`
	Encrypted  bool              `json:"Encrypted,omitempty"` // cluster networks: ESP between hosts
	Options    map[string]string `json:"Options,omitempty"`
}

// Network describes a network, in the shape of `docker network inspect`.
type Network struct {
	Name       string              `json:"Name"`
	ID         string              `json:"Id"`
	Created    time.Time           `json:"Created"`
	Scope      string              `json:"Scope"`
	Driver     string              `json:"Driver"`
	VNI        uint32              `json:"VNI"`
	MTU        int                 `json:"MTU"`
	IPAM       IPAM                `json:"IPAM"`
	Options    map[string]string   `json:"Options"`
	Peers      []string            `json:"Peers"`
	Attachable bool                `json:"Attachable"`
	Internal   bool                `json:"Internal"`
	Encrypted  bool                `json:"Encrypted"`
	SAs        []SA                `json:"SAs,omitempty"` // with --show-keys only
	Bridge     string              `json:"Bridge"`
	Containers map[string]Endpoint `json:"Containers"` // by endpoint ID
}

// IPAM is a network's address configuration.
type IPAM struct {
	Config []IPAMConfig `json:"Config"`
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway,omitempty"`
	IPRange string `json:"IPRange,omitempty"`
}

// Attach asks to put a container's network namespace on a network.
type Attach struct {
	Network string   `json:"Network"`
	Netns   string   `json:"Netns"`        // a name under /run/netns or a path
	IP      string   `json:"IP,omitempty"` // cluster networks allocate one when empty
	Name    string   `json:"Name,omitempty"`
	Aliases []string `json:"Aliases,omitempty"`
	// IfName is the interface's name inside the namespace; empty: the
	// first free ethN.
	IfName string `json:"IfName,omitempty"`
	// ContainerID is the runtime's ID of the container (CNI_CONTAINERID),
	// by which it can be detached, also once its namespace is gone.
	ContainerID string   `json:"ContainerID,omitempty"`
	Publish     []string `json:"Publish,omitempty"` // ports to publish on the container's host, "HOSTPORT:PORT[/tcp|udp]"
}

// Detach asks to take a namespace off a network: the one at Netns, or,
// when ContainerID is set, the one attached with that container ID (which
// works also once the namespace is gone).
type Detach struct {
	Network string `json:"Network"`
	Netns   string `json:"Netns"`
	// ContainerID selects the endpoint by the container ID it was
	// attached with; Netns is then not needed.
	ContainerID string `json:"ContainerID,omitempty"`
}

// Endpoint is one container's attachment to a network on this host.
type Endpoint struct {
	Name          string `json:"Name"`
	EndpointID    string `json:"EndpointID"`
	Netns         string `json:"Netns"`
	MacAddress    string `json:"MacAddress"`
	IPv4Address   string `json:"IPv4Address,omitempty"` // with prefix length, as Docker shows it
	IPv6Address   string `json:"IPv6Address,omitempty"`
	Interface     string `json:"Interface"`            // inside the namespace
	HostInterface string `json:"HostInterface"`        // the host end of the veth
	Resolver      string `json:"Resolver,omitempty"`   // the embedded resolver's address inside the namespace, if it serves there
	ResolvConf    string `json:"ResolvConf,omitempty"` // the resolv.conf weftd wrote for the namespace, if any
	// ContainerID is the runtime's container ID it was attached with, if any.
	ContainerID string `json:"ContainerID,omitempty"`

	// The way out of the overlay (see daemon/egress).
	Gateway   string   `json:"Gateway,omitempty"`   // the default route's next hop; empty on --internal networks
	Published []string `json:"Published,omitempty"` // ports published on this host, "HOSTPORT:PORT/PROTO"
}

// Error is the body of every failed request.
type Error struct {
	Message string `json:"message"`
}

// SA is one live ESP security association of an encrypted network, with
// what a capture tool needs to decrypt its traffic (Wireshark's ESP SA
// table takes these fields). Shown only by `weft network inspect
// --show-keys`, through the root-only API socket.
type SA struct {
	Direction  string `json:"Direction"` // "out": sealed here; "in": opened here
	Src        string `json:"Src"`       // underlay address of the sender
	Dst        string `json:"Dst"`       // underlay address of the receiver
	SPI        string `json:"SPI"`       // 0x-prefixed hex
	Algorithm  string `json:"Algorithm"` // as Wireshark names it
	Key        string `json:"Key"`       // 0x-prefixed hex: the AES-256 key and the 4-byte salt
	Generation uint64 `json:"Generation"`
	Active     bool   `json:"Active"` // installed in the data plane now; the others are kept while their generation is live
}
