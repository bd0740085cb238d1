package daemon

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// listenDNS opens the resolver's UDP and TCP sockets at 127.0.0.11:53 inside
// a namespace, bringing its loopback up first. The sockets stay in that
// namespace; weftd serves them from its own.
func listenDNS(nsPath string) (net.PacketConn, net.Listener, error) {
	ns, _, err := openNetns(nsPath)
	if err != nil {
		return nil, nil, err
	}
	defer ns.Close()
	if err := loopbackUp(ns); err != nil {
		return nil, nil, err
	}
	var pc net.PacketConn
	var ln net.Listener
	err = inNetns(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", resolverAddr+":53"); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", resolverAddr+":53"); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s:53 in %s: %w", resolverAddr, nsPath, err)
	}
	return pc, ln, nil
}

// loopbackUp brings up a namespace's loopback, where 127.0.0.11 lives.
func loopbackUp(ns netns.NsHandle) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bring up the namespace's loopback: %w", err)
	}
	return nil
}

// inNetns runs f on an OS thread switched into ns. Sockets f opens belong to
// ns for good. If the thread cannot be switched back it stays locked, so
// that it ends with this goroutine instead of running others in ns.
func inNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("return to weftd's namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}
