// Package links makes, finds and removes the host links weft uses: a
// network's bridge and TAP, a container's veth, the namespaces containers
// live in, and the underlay interface.
package links

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// BridgeName is the name of the bridge of the network with VNI vni.
func BridgeName(vni uint32) string { return fmt.Sprintf("wbr%d", vni) }

// TAPName is the name of the TAP of the network with VNI vni.
func TAPName(vni uint32) string { return fmt.Sprintf("wtap%d", vni) }

// NetnsPath turns a namespace given as a name under /run/netns or as a path
// into a path.
func NetnsPath(ns string) string {
	if strings.ContainsRune(ns, '/') {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

// Veth describes a container's veth to make: the host end on a bridge,
// the other end in the container's namespace.
type Veth struct {
	HostIf  string       // the host end's name
	TmpName string       // the container end's name while it is still on the host
	IP      netip.Prefix // the container end's address, with the subnet's length
	MAC     net.HardwareAddr
	MTU     int
	IfName  string     // the name inside the namespace; empty: the first free ethN
	Gateway netip.Addr // the container's default route goes through it; none when invalid
}
