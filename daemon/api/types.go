// Package api is the local HTTP API between the weft CLI and weftd: its
// request and response types and a client for a unix socket.
package api

import "time"

// DefaultHost is where weftd listens unless told otherwise.
const DefaultHost = "unix:///run/weft/weft.sock"

// NetworkCreate asks for a static-peer network on this host.
type NetworkCreate struct {
	Name    string   `json:"Name"`
	VNI     uint32   `json:"VNI"`
	Peers   []string `json:"Peers"`             // underlay VTEPs, IP or IP:port
	Subnet  string   `json:"Subnet"`            // CIDR
	Gateway string   `json:"Gateway,omitempty"` // reserved address in Subnet
	MTU     int      `json:"MTU,omitempty"`     // 0: the underlay's MTU less VXLAN overhead
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
}

// Attach asks to put a container's network namespace on a network.
type Attach struct {
	Network string `json:"Network"`
	Netns   string `json:"Netns"` // a name under /run/netns or a path
	IP      string `json:"IP"`
	Name    string `json:"Name,omitempty"`
}

// Detach asks to take a namespace off a network.
type Detach struct {
	Network string `json:"Network"`
	Netns   string `json:"Netns"`
}

// Endpoint is one container's attachment to a network on this host.
type Endpoint struct {
	Name          string `json:"Name"`
	EndpointID    string `json:"EndpointID"`
	Netns         string `json:"Netns"`
	MacAddress    string `json:"MacAddress"`
	IPv4Address   string `json:"IPv4Address,omitempty"` // with prefix length, as Docker shows it
	IPv6Address   string `json:"IPv6Address,omitempty"`
	Interface     string `json:"Interface"`     // inside the namespace
	HostInterface string `json:"HostInterface"` // the host end of the veth
}

// Error is the body of every failed request.
type Error struct {
	Message string `json:"message"`
}
