package tap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/weftnet/weft/tap"
	"golang.org/x/sys/unix"
)

// testEtherType is the IEEE local experimental ethertype the test frames use,
// so that nothing in the kernel answers them.
const testEtherType = 0x88b5

// headroom is the offset tests read and write frames at.
const headroom = 32

// testFrame returns a broadcast Ethernet frame of size bytes whose payload
// identifies it by id.
func testFrame(id, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], []byte{0x02, 0x77, 0x65, 0x66, 0x74, 0x01})
	binary.BigEndian.PutUint16(f[12:14], testEtherType)
	for i := 14; i < size; i++ {
		f[i] = byte(id + i)
	}
	return f
}

// withHeadroom returns f behind headroom bytes of 0xee filler.
func withHeadroom(f []byte) []byte {
	return append(bytes.Repeat([]byte{0xee}, headroom), f...)
}

// readBuffers returns n buffers of size bytes, headroom filled with 0xee, and
// room for their sizes.
func readBuffers(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{0xee}, size)
	}
	return bufs, make([]int, n)
}

// recvFrames receives n frames arriving on packet socket fd, skipping frames
// the host itself sends.
func recvFrames(t *testing.T, fd, n int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 2048)
	for range n + 64 {
		if len(got) == n {
			break
		}
		m, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("packet socket: received %d of %d frames: %v", len(got), n, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		got = append(got, bytes.Clone(buf[:m]))
	}
	if len(got) != n {
		t.Fatalf("packet socket: received %d frames; want %d", len(got), n)
	}
	return got
}

// sendFrames sends frames out through the interface packet socket fd is
// bound to.
func sendFrames(t *testing.T, fd int, frames ...[]byte) {
	t.Helper()
	for i, f := range frames {
		if _, err := unix.Write(fd, f); err != nil {
			t.Fatalf("packet socket: send frame %d: %v", i, err)
		}
	}
}

// watchdog closes d if the test is still running after d, so that a Read
// waiting for a frame that never comes fails the test instead of hanging it.
func watchdog(t *testing.T, d tap.Device, after time.Duration) {
	timer := time.AfterFunc(after, func() {
		t.Errorf("watchdog: closing %s after %v", d.Name(), after)
		d.Close()
	})
	t.Cleanup(func() { timer.Stop() })
}

// tapEnv is a TAP interface, up, in a fresh namespace, with a packet socket
// that receives the test frames the TAP's Writes deliver to the kernel and
// one that sends frames out through the interface to the TAP's Reads.
type tapEnv struct {
	ns  *testNS
	dev *tap.Linux
	rx  int
	tx  int
}

// newTapEnv sets up a tapEnv for a TAP called name opened with opts.
func newTapEnv(t *testing.T, name string, opts ...tap.Option) *tapEnv {
	t.Helper()
	e := &tapEnv{ns: newTestNS(t)}
	e.dev = e.ns.open(t, name, opts...)
	idx := e.ns.up(t, e.dev.Name())
	e.rx = e.ns.packetSocket(t, idx, testEtherType)
	e.tx = e.ns.packetSocket(t, idx, 0)
	watchdog(t, e.dev, 20*time.Second)
	return e
}

// open opens a TAP inside the namespace and closes it when the test ends.
func (n *testNS) open(t *testing.T, name string, opts ...tap.Option) *tap.Linux {
	t.Helper()
	var d *tap.Linux
	n.do(t, func() (err error) {
		d, err = tap.Open(name, opts...)
		return err
	})
	t.Cleanup(func() { d.Close() })
	return d
}
