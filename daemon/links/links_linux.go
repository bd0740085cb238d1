package links

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// UnderlayMTU returns the MTU of the interface that holds addr.
func UnderlayMTU(addr netip.Addr) (int, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			link, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("link of %s: %w", addr, err)
			}
			return link.Attrs().MTU, nil
		}
	}
	return 0, fmt.Errorf("no interface has address %s", addr)
}

// DefaultDataAddr picks the first global address of the interface that holds
// the default route, for when --data-path-addr is not given.
func DefaultDataAddr() (netip.Addr, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
			continue
		}
		link, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap().IsGlobalUnicast() {
				return ip.Unmap(), nil
			}
		}
	}
	return netip.Addr{}, errors.New("no default route to pick a data path address from; set --data-path-addr")
}

// EnsureBridge returns the named bridge, creating it if it does not exist, so
// that a restarted daemon adopts the bridge its containers are already on. It
// reports whether it created it.
func EnsureBridge(name string, mtu int) (netlink.Link, bool, error) {
	link, err := netlink.LinkByName(name)
	created := false
	if err != nil {
		off := false
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, MulticastSnooping: &off}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, false, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, true, fmt.Errorf("create bridge %s: %w", name, err)
		}
		created = true
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return nil, false, fmt.Errorf("%s exists and is a %s, not a bridge", name, link.Type())
	}
	disableIPv6(name)
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return link, created, fmt.Errorf("set MTU of %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return link, created, fmt.Errorf("bring up %s: %w", name, err)
	}
	return link, created, nil
}

// Enslave puts the named link on a bridge with the given MTU and brings it up.
func Enslave(name string, br netlink.Link, mtu int) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	disableIPv6(name)
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("set MTU of %s: %w", name, err)
	}
	if err := netlink.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("add %s to %s: %w", name, br.Attrs().Name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

// Exists reports whether a link of that name exists.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// Delete removes the named link; one that is already gone is not an error.
func Delete(name string) error {
	link, err := find(name)
	if link == nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// BridgePorts lists the names of the links on the named bridge.
func BridgePorts(bridge string) ([]string, error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var ports []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			ports = append(ports, l.Attrs().Name)
		}
	}
	return ports, nil
}

// DeleteTAP removes the TAP called name, which outlives weftd's descriptors
// (it is persistent); one that is already gone is not an error. A link of
// that name that is not a TAP is not weft's: it is left alone, and the
// error says so.
func DeleteTAP(name string) error {
	link, err := find(name)
	if link == nil {
		return err
	}
	if _, ok := link.(*netlink.Tuntap); !ok {
		return fmt.Errorf("%s exists and is a %s, not a TAP: rename or remove it", name, link.Type())
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete TAP %s: %w", name, err)
	}
	return nil
}

// disableIPv6 keeps the host side of the overlay (bridge, TAP, veth ends) from
// sending router solicitations and DAD probes of its own into the overlay.
// It is best effort: a kernel without IPv6 has nothing to disable.
func disableIPv6(ifname string) {
	_ = os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", ifname, "disable_ipv6"), []byte("1"), 0o644)
}

// OpenNetns opens a network namespace by path and returns it with a stable
// identity (device and inode).
func OpenNetns(path string) (netns.NsHandle, string, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), "", fmt.Errorf("network namespace %s: %w", path, err)
	}
	return h, h.UniqueId(), nil
}

// Plug makes the veth c: its host end joins bridge, its other end moves
// into the namespace at nsPath, where it gets c.IfName (or a free ethN name), its MAC,
// MTU and address, and comes up (with the loopback). It returns the name
// inside the namespace. On error nothing is left behind.
func Plug(nsPath, bridge string, c Veth) (string, error) {
	ns, _, err := OpenNetns(nsPath)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	if err := createVeth(c); err != nil {
		return "", err
	}
	br, err := netlink.LinkByName(bridge)
	if err == nil {
		err = Enslave(c.HostIf, br, c.MTU)
	}
	var name string
	if err == nil {
		name, err = moveIntoNetns(ns, c)
	}
	if err != nil {
		_ = Delete(c.HostIf) // takes the container end with it, wherever it is
	}
	return name, err
}

// NamespaceID returns the identity (device and inode) of the namespace at
// path.
func NamespaceID(path string) (string, error) {
	h, id, err := OpenNetns(path)
	if err != nil {
		return "", err
	}
	h.Close()
	return id, nil
}

// createVeth makes a veth pair on the host: c.HostIf stays, the peer named
// c.TmpName is about to move into a container.
func createVeth(c Veth) error {
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: c.HostIf, MTU: c.MTU},
		PeerName:  c.TmpName,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", c.HostIf, err)
	}
	return nil
}

// moveIntoNetns moves the container end of a veth into ns and configures it
// there: a free ethN name, its MAC, MTU and address, up, and loopback up.
// It returns the interface's name inside the namespace.
func moveIntoNetns(ns netns.NsHandle, c Veth) (string, error) {
	peer, err := netlink.LinkByName(c.TmpName)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", c.TmpName, err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		return "", fmt.Errorf("move %s into namespace: %w", c.TmpName, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", fmt.Errorf("netlink in namespace: %w", err)
	}
	defer h.Close()
	return configureInNetns(h, c)
}

func configureInNetns(h *netlink.Handle, c Veth) (string, error) {
	link, err := h.LinkByName(c.TmpName)
	if err != nil {
		return "", fmt.Errorf("find %s in namespace: %w", c.TmpName, err)
	}
	name := c.IfName
	if name == "" {
		name = freeEthName(h)
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"rename to " + name, func() error { return h.LinkSetName(link, name) }},
		{"set MAC", func() error { return h.LinkSetHardwareAddr(link, c.MAC) }},
		{"set MTU", func() error { return h.LinkSetMTU(link, c.MTU) }},
		{"add address " + c.IP.String(), func() error {
			return h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: c.IP.Addr().AsSlice(), Mask: net.CIDRMask(c.IP.Bits(), c.IP.Addr().BitLen())}})
		}},
		{"bring up", func() error { return h.LinkSetUp(link) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return "", fmt.Errorf("%s: %w", s.what, err)
		}
	}
	if err := defaultRoute(h, link, c.Gateway); err != nil {
		return "", err
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo) // a container with its loopback down still works on the overlay
	}
	return name, nil
}

// freeEthName returns the first ethN not taken in the handle's namespace.
func freeEthName(h *netlink.Handle) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if _, err := h.LinkByName(name); err != nil {
			return name
		}
	}
}

// find returns the named link; nil and no error if there is none.
func find(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	return link, nil
}
