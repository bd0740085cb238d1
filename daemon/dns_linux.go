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
// the namespace at nsPath, which must still be the one of identity wantID,
// bringing its loopback up first. The sockets stay in that namespace; weftd
// serves them from its own.
func listenDNS(nsPath, wantID string) (net.PacketConn, net.Listener, error) {
	ns, id, err := openNetns(nsPath)
	if err != nil {
		return nil, nil, err
	}
	defer ns.Close()
	if id != wantID {
		return nil, nil, fmt.Errorf("%s is no longer the namespace that was attached", nsPath)
	}
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

// inNetns runs f on a fresh OS thread switched into ns and waits for it.
// Sockets f opens belong to ns for good. If the thread cannot be switched
// back it is never unlocked, so the runtime ends it with its goroutine
// instead of running other goroutines in ns.
func inNetns(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to weftd's namespace: %w", err))
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
