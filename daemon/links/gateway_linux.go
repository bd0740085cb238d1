package links

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// SetGateway gives a network's bridge its gateway address gw (with the
// subnet's length), which every host's bridge of the network carries; an
// address already there is kept, so that a restarted weftd adopts it.
func SetGateway(bridge string, gw netip.Prefix) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find %s: %w", bridge, err)
	}
	if err := netlink.AddrReplace(br, &netlink.Addr{IPNet: ipNet(gw)}); err != nil {
		return fmt.Errorf("add gateway %s to %s: %w", gw, bridge, err)
	}
	return nil
}

// defaultRoute sends a container's traffic for anywhere off its subnet
// through gw, over link; with no gateway it adds nothing.
func defaultRoute(h *netlink.Handle, link netlink.Link, gw netip.Addr) error {
	if !gw.IsValid() {
		return nil
	}
	dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if gw.Is6() {
		dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(dst), Gw: gw.AsSlice()}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}

// ipNet is p as the net package has it.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
