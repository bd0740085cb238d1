//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// The lab's namespaces are all named prefix-*; at most one lab exists at a
// time, and a new one first removes whatever an interrupted run left.
const prefix = "wbench"

// Overlay and underlay of both modes.
const (
	vni        = 42
	overlayMTU = 1450
	subnet     = "198.19.1.0/24"
)

var (
	h1IP   = netip.MustParseAddr("198.18.0.1")
	h2IP   = netip.MustParseAddr("198.18.0.2")
	c1Addr = netip.MustParsePrefix("198.19.1.10/24")
	c2Addr = netip.MustParsePrefix("198.19.1.11/24")
)

// Modes, in the order each round runs them.
const (
	modeKernel = "kernel"
	modeWeft   = "weft"
)

var modes = []string{modeKernel, modeWeft}

// topology is two hosts with one container each, joined by one mode's tunnel.
type topology struct {
	lab    *nstest.Lab
	dir    string
	c1, c2 string // container namespaces; c1 sends to c2
	mtu    int    // c1's MTU, as the tunnel set it up
	weftd  []int  // PIDs of the weftd processes (mode weft)
}

// build makes the topology for mode in a new lab. The caller closes t.lab
// even when build fails, if it is not nil.
func build(mode, bin, dir string) (*topology, error) {
	lab, err := nstest.New(prefix, bin, dir)
	if err != nil {
		return nil, err
	}
	t := &topology{lab: lab, dir: dir}
	h1, err := lab.Host("h1", h1IP)
	if err != nil {
		return t, err
	}
	h2, err := lab.Host("h2", h2IP)
	if err != nil {
		return t, err
	}
	if t.c1, err = lab.Container("c1"); err != nil {
		return t, err
	}
	if t.c2, err = lab.Container("c2"); err != nil {
		return t, err
	}
	switch mode {
	case modeKernel:
		err = t.kernel(h1, h2)
	case modeWeft:
		err = t.weft(h1, h2)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return t, fmt.Errorf("build %s topology: %w", mode, err)
	}
	if t.mtu, err = linkMTU(t.c1); err != nil {
		return t, err
	}
	return t, t.waitReachable(10 * time.Second)
}

// kernel joins the containers with kernel VXLAN devices.
func (t *topology) kernel(h1, h2 *nstest.Host) error {
	for _, x := range []struct {
		h, peer *nstest.Host
		c       string
		addr    netip.Prefix
	}{{h1, h2, t.c1, c1Addr}, {h2, h1, t.c2, c2Addr}} {
		br, err := x.h.KernelVXLAN(vni, overlayMTU, x.peer.IP)
		if err != nil {
			return err
		}
		if err := x.h.KernelAttach(br, x.c, x.addr, overlayMTU); err != nil {
			return err
		}
	}
	return nil
}

// weft joins the containers with weftd. The underlay keeps its default
// offloads, as in mode kernel.
func (t *topology) weft(h1, h2 *nstest.Host) error {
	for _, x := range []struct {
		h, peer *nstest.Host
		c       string
		addr    netip.Prefix
	}{{h1, h2, t.c1, c1Addr}, {h2, h1, t.c2, c2Addr}} {
		// Info, as in production: debug logs some per-packet errors.
		w, err := x.h.StartWeftd("--log-level", "info")
		if err != nil {
			return err
		}
		if _, err := w.CLI("network", "create", "--vni", strconv.Itoa(vni), "--peer", x.peer.IP.String(),
			"--subnet", subnet, "net1"); err != nil {
			return err
		}
		if _, err := w.CLI("attach", "--network", "net1", "--ip", x.addr.Addr().String(), x.c); err != nil {
			return err
		}
		t.weftd = append(t.weftd, w.PID())
	}
	return nil
}

// waitReachable pings c2 from c1 until it answers, for up to limit.
func (t *topology) waitReachable(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		if _, err = nstest.Exec(t.c1, "ping", "-c", "1", "-W", "1", c2Addr.Addr().String()); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s does not reach %s after %s: %w", t.c1, c2Addr.Addr(), limit, err)
}

// linkMTU returns the MTU of the first non-loopback link in ns.
func linkMTU(ns string) (int, error) {
	out, err := nstest.IP("-n", ns, "-o", "link", "show")
	if err != nil {
		return 0, err
	}
	if mtu, ok := parseLinkMTU(out); ok {
		return mtu, nil
	}
	return 0, fmt.Errorf("no link with an MTU in %s: %q", ns, out)
}

// parseLinkMTU reads the MTU of the first non-loopback link from the output
// of `ip -o link show`.
func parseLinkMTU(out string) (int, bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] == "lo:" {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "mtu" {
				if mtu, err := strconv.Atoi(f[i+1]); err == nil {
					return mtu, true
				}
			}
		}
	}
	return 0, false
}
