//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// The lab's namespaces are all named prefix-*; at most one lab exists at a
// time, and a new one first removes whatever an interrupted run left.
const prefix = "wbench"

// Overlay and underlay of every mode.
const (
	vni        = 42
	overlayMTU = 1450 // of mode kernel; weftd picks its own, the same for static networks
	subnet     = "198.19.1.0/24"
	pool       = "198.19.0.0/16" // the cluster's default address pool (mode weft-encrypted)
	netName    = "benchnet"
)

var (
	h1IP   = netip.MustParseAddr("198.18.0.1")
	h2IP   = netip.MustParseAddr("198.18.0.2")
	c1Addr = netip.MustParsePrefix("198.19.1.10/24")
	c2Addr = netip.MustParsePrefix("198.19.1.11/24")
)

// Modes, in the order each round runs them.
const (
	modeVeth      = "veth"
	modeKernel    = "kernel"
	modeWeft      = "weft"
	modeEncrypted = "weft-encrypted"
	modePortable  = "weft-portable"
	modeNoOffload = "weft-no-offload"
	modeQueues    = "weft-2queues"
)

var allModes = []string{modeVeth, modeKernel, modeWeft, modeEncrypted, modePortable, modeNoOffload, modeQueues}

// baseline is the mode every ratio is taken against.
const baseline = modeKernel

// topology is two hosts with one container each, joined by one mode's tunnel.
type topology struct {
	lab    *nstest.Lab
	dir    string
	c1, c2 string // container namespaces; c1 sends to c2
	mtu    int    // c1's MTU, as the mode set it up
	weftd  []int  // PIDs of the weftd processes (weft modes)
}

// side is one host with its container, and the other host.
type side struct {
	h, peer *nstest.Host
	c       string
	addr    netip.Prefix
}

// build makes the topology for mode in a new lab. The caller closes t.lab
// even when build fails, if it is not nil.
func build(mode, bin, dir string) (*topology, error) {
	lab, err := nstest.New(prefix, bin, dir)
	if err != nil {
		return nil, err
	}
	t := &topology{lab: lab, dir: dir}
	sides, err := t.hosts()
	if err != nil {
		return t, err
	}
	switch mode {
	case modeVeth:
		err = t.veth(sides)
	case modeKernel:
		err = t.kernel(sides)
	case modeWeft:
		err = t.weft(sides)
	case modePortable:
		err = t.weft(sides, "--tap-driver", "water")
	case modeQueues:
		err = t.weft(sides, "--queues", "2")
	case modeNoOffload:
		err = t.weft(sides, "--tap-offload=false", "--udp-offload=false")
	case modeEncrypted:
		err = t.encrypted(sides)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return t, fmt.Errorf("build %s topology: %w", mode, err)
	}
	if t.mtu, err = linkMTU(t.c1); err != nil {
		return t, err
	}
	return t, t.waitReachable(15 * time.Second)
}

// hosts makes both hosts on the underlay and both containers, unattached.
func (t *topology) hosts() ([2]side, error) {
	var s [2]side
	h1, err := t.lab.Host("h1", h1IP)
	if err != nil {
		return s, err
	}
	h2, err := t.lab.Host("h2", h2IP)
	if err != nil {
		return s, err
	}
	if t.c1, err = t.lab.Container("c1"); err != nil {
		return s, err
	}
	if t.c2, err = t.lab.Container("c2"); err != nil {
		return s, err
	}
	return [2]side{{h1, h2, t.c1, c1Addr}, {h2, h1, t.c2, c2Addr}}, nil
}

// veth joins the containers without a tunnel: a veth from each container to
// its host, which forwards between it and the underlay. The container keeps
// its /24 and finds the other container's address by ARP, which the host
// answers (proxy ARP) because it routes that address to the other host.
func (t *topology) veth(sides [2]side) error {
	for i, x := range sides {
		port := "v" + strings.TrimPrefix(x.c, prefix+"-")
		other := sides[1-i].addr.Addr().String()
		if _, err := nstest.Exec(x.h.NS, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
			return err
		}
		steps := [][]string{
			{"-n", x.h.NS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", x.c},
			{"-n", x.h.NS, "link", "set", port, "up"},
			{"-n", x.h.NS, "route", "add", x.addr.Addr().String() + "/32", "dev", port},
			{"-n", x.h.NS, "route", "add", other + "/32", "via", x.peer.IP.String(), "dev", "eth0"},
			{"-n", x.c, "addr", "add", x.addr.String(), "dev", "eth0"},
			{"-n", x.c, "link", "set", "eth0", "up"},
		}
		for _, s := range steps {
			if _, err := nstest.IP(s...); err != nil {
				return err
			}
		}
		if _, err := nstest.Exec(x.h.NS, "sysctl", "-qw", "net.ipv4.conf."+port+".proxy_arp=1"); err != nil {
			return err
		}
	}
	return nil
}

// kernel joins the containers with kernel VXLAN devices.
func (t *topology) kernel(sides [2]side) error {
	for _, x := range sides {
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

// weft joins the containers with weftd on a static-peer network, each weftd
// started with extra flags. The underlay keeps its default offloads, as in
// mode kernel.
func (t *topology) weft(sides [2]side, extra ...string) error {
	for _, x := range sides {
		w, err := t.startWeftd(x.h, extra...)
		if err != nil {
			return err
		}
		if _, err := w.CLI("network", "create", "--vni", strconv.Itoa(vni), "--peer", x.peer.IP.String(),
			"--subnet", subnet, netName); err != nil {
			return err
		}
		if _, err := w.CLI("attach", "--network", netName, "--ip", x.addr.Addr().String(), x.c); err != nil {
			return err
		}
	}
	return nil
}

// startWeftd runs weftd at log level info, as in production (debug logs
// some per-packet errors), and keeps its PID for the CPU count.
func (t *topology) startWeftd(h *nstest.Host, extra ...string) (*nstest.Weftd, error) {
	w, err := h.StartWeftd(append([]string{"--log-level", "info"}, extra...)...)
	if err != nil {
		return nil, err
	}
	t.weftd = append(t.weftd, w.PID())
	return w, nil
}

// encrypted makes a two-node cluster, h1 its manager and h2 a worker, and
// joins the containers with an attachable encrypted network.
func (t *topology) encrypted(sides [2]side) error {
	var ws [2]*nstest.Weftd
	for i, x := range sides {
		w, err := t.startWeftd(x.h)
		if err != nil {
			return err
		}
		ws[i] = w
	}
	if _, err := ws[0].CLI("cluster", "init", "--default-addr-pool", pool); err != nil {
		return err
	}
	out, err := ws[0].CLI("cluster", "join-token", "-q", "worker")
	if err != nil {
		return err
	}
	manager := netip.AddrPortFrom(h1IP, 2377).String()
	if _, err := ws[1].CLI("cluster", "join", "--token", strings.TrimSpace(out), manager); err != nil {
		return err
	}
	if _, err := ws[0].CLI("network", "create", "--attachable", "--encrypted", "--subnet", subnet, netName); err != nil {
		return err
	}
	for i, x := range sides {
		if err := attachRetrying(ws[i], x, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// attachRetrying attaches x's container to the cluster network, retrying for
// up to limit while the network reaches a worker.
func attachRetrying(w *nstest.Weftd, x side, limit time.Duration) error {
	name := strings.TrimPrefix(x.c, prefix+"-")
	var err error
	poll.Wait(limit, func() bool {
		_, err = w.CLI("attach", "--network", netName, "--ip", x.addr.Addr().String(), "--name", name, x.c)
		return err == nil
	})
	return err
}

// waitReachable pings c2 from c1 until it answers, for up to limit.
func (t *topology) waitReachable(limit time.Duration) error {
	var err error
	if poll.Wait(limit, func() bool {
		_, err = nstest.Exec(t.c1, "ping", "-c", "1", "-W", "1", c2Addr.Addr().String())
		return err == nil
	}) {
		return nil
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
