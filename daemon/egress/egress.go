// Package egress programs the host's forwarding, masquerade, isolation and
// published-port rules for weft's networks with nftables.
//
// The rules live in weft's own tables (inet weft and bridge weft) and are
// rebuilt from what the daemon wants as a whole: Build turns the networks
// and published ports into a Ruleset, and Table.Apply replaces the tables'
// contents with it in one atomic batch, so that a restart leaves no
// duplicates and a removed network leaves no rule.
//
// Log keys: "table", "rules", "sysctl".
package egress

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Network is one of the daemon's networks on this host, as the rules see it.
type Network struct {
	Name     string
	Bridge   string       // the network's bridge, wbrVNI
	TAP      string       // the network's TAP into weftd, on the bridge
	Subnet   netip.Prefix // the containers' addresses
	Gateway  netip.Addr   // on the bridge; invalid when the network has no way out
	Internal bool         // nothing is forwarded into or out of the network
}

// WayOut reports whether the network's containers reach outside the
// overlay: it has a gateway and is not internal.
func (n Network) WayOut() bool { return n.Gateway.IsValid() && !n.Internal }

// Published is a port of a container published on this host.
type Published struct {
	Port
	Network   string     // the container's network
	Container string     // the container's name (or namespace), for errors
	Addr      netip.Addr // the container's address
}

// Desired is everything the rules are built from.
type Desired struct {
	Networks  []Network
	Published []Published
}

// Proto is a transport protocol a port is published for.
type Proto uint8

// The protocols a port can be published for.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	if p == UDP {
		return "udp"
	}
	return "tcp"
}

// Port is one published port: HostPort on the host's own addresses goes to
// ContainerPort on the container.
type Port struct {
	HostPort      uint16 `json:"host_port"`
	ContainerPort uint16 `json:"port"`
	Proto         Proto  `json:"proto"`
}

// String is the port as --publish takes it: HOSTPORT:PORT/PROTO.
func (p Port) String() string {
	return fmt.Sprintf("%d:%d/%s", p.HostPort, p.ContainerPort, p.Proto)
}

// HostSide is the host's end of the port, as in "8080/tcp".
func (p Port) HostSide() string { return fmt.Sprintf("%d/%s", p.HostPort, p.Proto) }

// ParsePort reads a --publish value, HOSTPORT:PORT[/tcp|udp]; tcp when no
// protocol is given.
func ParsePort(spec string) (Port, error) {
	bad := func(why string) (Port, error) {
		return Port{}, fmt.Errorf("invalid --publish %q: %s; want HOSTPORT:PORT[/tcp|udp], as 8080:80/tcp", spec, why)
	}
	ports, proto, hasProto := strings.Cut(spec, "/")
	p := Port{Proto: TCP}
	switch {
	case !hasProto:
	case strings.EqualFold(proto, "tcp"):
	case strings.EqualFold(proto, "udp"):
		p.Proto = UDP
	default:
		return bad(fmt.Sprintf("protocol %q is neither tcp nor udp", proto))
	}
	host, ctr, ok := strings.Cut(ports, ":")
	if !ok {
		return bad("no ':' between the host's port and the container's")
	}
	var err error
	if p.HostPort, err = portNumber(host); err != nil {
		return bad("host port: " + err.Error())
	}
	if p.ContainerPort, err = portNumber(ctr); err != nil {
		return bad("container port: " + err.Error())
	}
	return p, nil
}

// ParsePorts reads every --publish value, refusing one that names a host
// port (and protocol) twice.
func ParsePorts(specs []string) ([]Port, error) {
	var out []Port
	for _, s := range specs {
		p, err := ParsePort(s)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(out, p.sameHostSide); i >= 0 {
			return nil, fmt.Errorf("invalid --publish %q: host port %s is also published by %q", s, p.HostSide(), specs[i])
		}
		out = append(out, p)
	}
	return out, nil
}

func (p Port) sameHostSide(o Port) bool { return p.HostPort == o.HostPort && p.Proto == o.Proto }

// portNumber reads a port, 1-65535.
func portNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// Taken returns the published port among have that already holds p's host
// port and protocol, if any.
func Taken(have []Published, p Port) (Published, bool) {
	i := slices.IndexFunc(have, func(o Published) bool { return o.sameHostSide(p) })
	if i < 0 {
		return Published{}, false
	}
	return have[i], true
}

// TakenError is the refusal of a port another container has.
func TakenError(p Port, by Published) error {
	return fmt.Errorf("host port %s is already published by %s (%s:%d on network %s)", p.HostSide(), by.Container, by.Addr, by.ContainerPort, by.Network)
}

// sorted returns d's networks by name and its ports by host port, so that
// the same wish always builds the same rules.
func (d Desired) sorted() Desired {
	d.Networks = slices.Clone(d.Networks)
	slices.SortFunc(d.Networks, func(a, b Network) int { return cmp.Compare(a.Name, b.Name) })
	d.Published = slices.Clone(d.Published)
	slices.SortFunc(d.Published, func(a, b Published) int {
		return cmp.Or(cmp.Compare(a.HostPort, b.HostPort), cmp.Compare(a.Proto, b.Proto))
	})
	return d
}
