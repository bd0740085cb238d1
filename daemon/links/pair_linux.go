package links

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// Pair makes a container's veth whose container end stays on the host,
// named c.TmpName, with c.MAC and c.MTU, for a container runtime to move
// into the container itself (Docker does, at Join, and gives it its
// address there); the host end c.HostIf joins bridge and comes up. On
// error nothing is left behind.
func Pair(bridge string, c Veth) error {
	if err := createVeth(c); err != nil {
		return err
	}
	br, err := netlink.LinkByName(bridge)
	if err == nil {
		err = Enslave(c.HostIf, br, c.MTU)
	}
	if err == nil {
		err = setPeer(c)
	}
	if err != nil {
		_ = Delete(c.HostIf) // takes the container end with it
	}
	return err
}

// setPeer gives the container end of a veth its MAC and MTU.
func setPeer(c Veth) error {
	peer, err := netlink.LinkByName(c.TmpName)
	if err != nil {
		return fmt.Errorf("find %s: %w", c.TmpName, err)
	}
	disableIPv6(c.TmpName)
	if err := netlink.LinkSetHardwareAddr(peer, c.MAC); err != nil {
		return fmt.Errorf("set MAC of %s: %w", c.TmpName, err)
	}
	if err := netlink.LinkSetMTU(peer, c.MTU); err != nil {
		return fmt.Errorf("set MTU of %s: %w", c.TmpName, err)
	}
	return nil
}
