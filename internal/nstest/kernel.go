//go:build linux

package nstest

import (
	"fmt"
	"net/netip"
	"strconv"
)

// KernelVXLAN makes a kernel VXLAN device on the host in static-peer mode
// (learning on, every peer in the all-zeros FDB entry, as weft's static
// networks behave), bridged as br<vni>, and returns the bridge's name. The
// host's offloads are left as they are; see ChecksumInSoftware for a kernel
// host that talks to weft.
func (h *Host) KernelVXLAN(vni uint32, mtu int, peers ...netip.Addr) (string, error) {
	dev, br := fmt.Sprintf("vx%d", vni), fmt.Sprintf("br%d", vni)
	steps := [][]string{
		{"-n", h.NS, "link", "add", dev, "type", "vxlan", "id", strconv.Itoa(int(vni)), "local", h.IP.String(), "dstport", "4789"},
		{"-n", h.NS, "link", "set", dev, "mtu", strconv.Itoa(mtu)},
		{"-n", h.NS, "link", "add", br, "type", "bridge"},
		{"-n", h.NS, "link", "set", dev, "master", br, "up"},
		{"-n", h.NS, "link", "set", br, "up"},
	}
	for _, s := range steps {
		if _, err := IP(s...); err != nil {
			return "", err
		}
	}
	for _, p := range peers {
		if _, err := Exec(h.NS, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", dev, "dst", p.String()); err != nil {
			return "", err
		}
	}
	return br, nil
}

// ChecksumInSoftware turns transmit checksum offload off on the host's
// underlay veth. A kernel VXLAN host needs it to talk to weft over veth: the
// kernel otherwise sends inner TCP segments whose checksum is left for the NIC
// to fill in, no veth fills it in, and weft, which reads the datagram from a
// UDP socket, delivers it as it is. A real NIC computes it; between two kernel
// hosts the receiver trusts the partial checksum, so they do not need this.
func (h *Host) ChecksumInSoftware() error {
	_, err := Exec(h.NS, "ethtool", "-K", "eth0", "tx", "off")
	return err
}

// KernelAttach joins a container to a bridge on the host with a veth, the way
// Docker's bridge-based drivers do, with addr (address/prefix) and mtu.
func (h *Host) KernelAttach(bridge, container string, addr netip.Prefix, mtu int) error {
	port := "k" + container
	if len(port) > 15 {
		port = port[len(port)-15:]
	}
	m := strconv.Itoa(mtu)
	steps := [][]string{
		{"-n", h.NS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", container},
		{"-n", h.NS, "link", "set", port, "master", bridge, "mtu", m, "up"},
		{"-n", container, "addr", "add", addr.String(), "dev", "eth0"},
		{"-n", container, "link", "set", "eth0", "mtu", m, "up"},
	}
	for _, s := range steps {
		if _, err := IP(s...); err != nil {
			return err
		}
	}
	return nil
}
