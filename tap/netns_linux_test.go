package tap_test

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// requireRoot skips t unless it runs as root, or fails it when
// WEFT_REQUIRE_ROOT_TESTS=1 says root tests must run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
		t.Fatal("needs root, and WEFT_REQUIRE_ROOT_TESTS=1")
	}
	t.Skip("needs root")
}

// testNS is a fresh network namespace that lives as long as its test. It has
// no name and no mount: the kernel removes it, and every interface in it,
// once the test's last descriptor into it is closed.
type testNS struct {
	ns netns.NsHandle
	nl *netlink.Handle
}

// newTestNS creates a network namespace for t, with IPv6 off so that the
// kernel sends no frames of its own into the test's interfaces.
func newTestNS(t *testing.T) *testNS {
	t.Helper()
	requireRoot(t)
	ns, err := newNS()
	if err != nil {
		t.Fatalf("create netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in netns: %v", err)
	}
	t.Cleanup(nl.Close)
	n := &testNS{ns: ns, nl: nl}
	n.do(t, disableIPv6)
	return n
}

// newNS creates a network namespace without moving the calling thread into it.
func newNS() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // left locked if restoring fails: the thread then dies with us
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if rerr := netns.Set(orig); rerr == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{ns, err}
	}()
	r := <-ch
	return r.ns, r.err
}

// do runs fn on a thread inside the namespace and fails t if fn fails.
// Descriptors fn opens (TAPs, sockets) stay bound to the namespace.
func (n *testNS) do(t *testing.T, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // left locked if restoring fails: the thread then dies with us
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.ns); err != nil {
			errc <- err
			return
		}
		err = fn()
		if rerr := netns.Set(orig); rerr == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in netns: %v", err)
	}
}

// disableIPv6 turns IPv6 off in the calling thread's namespace, if the kernel
// has it.
func disableIPv6() error {
	for _, c := range []string{"all", "default"} {
		err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// up brings the interface called name up and returns its index.
func (n *testNS) up(t *testing.T, name string) int {
	t.Helper()
	link, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("find %s: %v", name, err)
	}
	if err := n.nl.LinkSetUp(link); err != nil {
		t.Fatalf("set %s up: %v", name, err)
	}
	return link.Attrs().Index
}

// packetSocket opens an AF_PACKET socket bound to interface ifindex that
// receives frames of ethertype proto (none if proto is 0) and times out
// receives after two seconds. Frames sent on it leave through the interface.
func (n *testNS) packetSocket(t *testing.T, ifindex int, proto uint16) int {
	t.Helper()
	fd := -1
	n.do(t, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(proto)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifindex})
	})
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatalf("SO_RCVTIMEO: %v", err)
	}
	return fd
}

// htons converts v to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
