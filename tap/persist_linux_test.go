package tap_test

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/weftnet/weft/tap"
	"golang.org/x/sys/unix"
)

// A persistent TAP outlives its descriptor, and opening it again attaches to
// the same interface (same index, still up), which then carries frames.
func TestLinuxPersistSurvivesClose(t *testing.T) {
	n := newTestNS(t)
	const name = "weftp1"
	first := n.open(t, name, tap.WithPersist(), tap.WithOffload())
	idx := n.up(t, name)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	link, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("after Close: %v; want the persistent TAP still there", err)
	}
	if link.Attrs().Index != idx {
		t.Fatalf("after Close: index %d; want %d", link.Attrs().Index, idx)
	}
	again := n.open(t, name, tap.WithPersist(), tap.WithOffload())
	link, err = n.nl.LinkByName(again.Name())
	if err != nil || link.Attrs().Index != idx || link.Attrs().Flags&netlinkUp == 0 {
		t.Fatalf("reopened: link %v, %v; want index %d, up", link, err, idx)
	}
	if !again.Offloaded() {
		t.Error("reopened WithOffload: Offloaded() = false; want true")
	}
	n.do(t, func() error { return deleteLinkNamed(name) })
}

// netlinkUp is the IFF_UP bit of a link's flags as netlink reports them.
const netlinkUp = 1 << 0

// Without WithPersist a TAP that Open made goes with its last descriptor.
func TestLinuxNotPersistentGoesOnClose(t *testing.T) {
	n := newTestNS(t)
	const name = "weftp2"
	d := n.open(t, name)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.nl.LinkByName(name); err == nil {
		t.Fatalf("%s still exists after Close; want it gone with its descriptor", name)
	}
}

// A TAP that persisted with offloads and is opened again without them must
// come without virtio-net headers and without TCP segmentation offload:
// otherwise the kernel would hand a reader that expects plain frames TCP
// super-frames.
func TestLinuxPersistReopenWithoutOffload(t *testing.T) {
	n := newTestNS(t)
	const name = "weftp3"
	first := n.open(t, name, tap.WithPersist(), tap.WithOffload())
	if !first.Offloaded() {
		if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
			t.Fatal("the kernel refused the TAP offloads")
		}
		t.Skip("the kernel refused the TAP offloads")
	}
	if !n.tso(t, name) {
		t.Fatal("TSO off on a TAP opened WithOffload; want on")
	}
	first.Close()
	e := &tapEnv{ns: n, dev: n.open(t, name, tap.WithPersist())}
	if e.dev.Offloaded() {
		t.Error("reopened without WithOffload: Offloaded() = true; want false")
	}
	if n.tso(t, name) {
		t.Error("reopened without WithOffload: TSO still on; want off")
	}
	idx := n.up(t, name)
	e.rx, e.tx = n.packetSocket(t, idx, testEtherType), n.packetSocket(t, idx, 0)
	want := testFrame(7, 200)
	if k, err := e.dev.Write([][]byte{withHeadroom(want)}, headroom); k != 1 || err != nil {
		t.Fatalf("Write = %d, %v", k, err)
	}
	if got := recvFrames(t, e.rx, 1)[0]; !bytes.Equal(got, want) {
		t.Errorf("frame arrived as %x; want %x (no virtio-net header taken from it)", got, want)
	}
	n.do(t, func() error { return deleteLinkNamed(name) })
}

// Opening an existing interface with flags the kernel will not attach with
// (multi-queue against single-queue, or a link that is not a TAP) reports
// ErrIncompatible, so that the caller can delete it and start afresh; other
// failures do not.
func TestLinuxOpenIncompatible(t *testing.T) {
	n := newTestNS(t)
	n.do(t, func() error { return makePersistentTap("weftsq") })
	var mq []*tap.Linux
	n.do(t, func() (err error) {
		mq, err = tap.OpenQueues("weftmq", 2, tap.WithPersist())
		return err
	})
	closeQueues(mq)
	n.do(t, func() error {
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "weftbr"}})
	})
	tests := []struct {
		name   string
		open   func() error
		wantIs bool
	}{
		{"single-queue TAP opened multi-queue", func() error {
			qs, err := tap.OpenQueues("weftsq", 2, tap.WithPersist())
			closeQueues(qs)
			return err
		}, true},
		{"multi-queue TAP opened single-queue", func() error { return openClose("weftmq") }, true},
		{"not a TAP", func() error { return openClose("weftbr") }, true},
		{"invalid new name", func() error { return openClose("a b") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n.do(t, func() error { err = tt.open(); return nil })
			if err == nil {
				t.Fatal("got no error; want the open refused")
			}
			if errors.Is(err, tap.ErrIncompatible) != tt.wantIs {
				t.Fatalf("got %v; want errors.Is(err, ErrIncompatible) = %v", err, tt.wantIs)
			}
		})
	}
	t.Run("deleted and opened again", func(t *testing.T) {
		n.do(t, func() error {
			if err := deleteLinkNamed("weftsq"); err != nil {
				return err
			}
			qs, err := tap.OpenQueues("weftsq", 2, tap.WithPersist())
			closeQueues(qs)
			return err
		})
	})
}

func openClose(name string) error {
	d, err := tap.Open(name)
	if err == nil {
		d.Close()
	}
	return err
}

func closeQueues(qs []*tap.Linux) {
	for _, q := range qs {
		q.Close()
	}
}

// deleteLinkNamed deletes a link in the calling thread's namespace.
func deleteLinkNamed(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(link)
}

// tso reports whether TCP segmentation offload is on for the interface
// called name (ETHTOOL_GTSO).
func (n *testNS) tso(t *testing.T, name string) bool {
	t.Helper()
	const ethtoolGTSO = 0x1e
	val := struct{ cmd, data uint32 }{cmd: ethtoolGTSO}
	ifr := struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte // the rest of struct ifreq's union
	}{data: unsafe.Pointer(&val)}
	copy(ifr.name[:], name)
	n.do(t, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return errno
		}
		runtime.KeepAlive(&val)
		return nil
	})
	return val.data != 0
}
