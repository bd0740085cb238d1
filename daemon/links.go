package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// VXLAN overhead on the underlay: outer IP, UDP and VXLAN headers plus the
// inner Ethernet header that the overlay MTU does not count.
const (
	overheadIPv4 = 20 + 8 + 8 + 14
	overheadIPv6 = 40 + 8 + 8 + 14
)

func bridgeName(vni uint32) string { return fmt.Sprintf("wbr%d", vni) }
func tapName(vni uint32) string    { return fmt.Sprintf("wtap%d", vni) }

// netnsPath turns a namespace given as a name under /run/netns or as a path
// into a path.
func netnsPath(ns string) string {
	if strings.ContainsRune(ns, '/') {
		return ns
	}
	return filepath.Join("/run/netns", ns)
}

// containerLink describes the container end of a veth being set up.
type containerLink struct {
	tmpName string       // its name while still on the host
	ip      netip.Prefix // its address, with the subnet's length
	mac     net.HardwareAddr
	mtu     int
}
