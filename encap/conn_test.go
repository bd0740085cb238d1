package encap

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

const (
	testOffset  = 16 // headroom in front of every datagram
	testTimeout = 5 * time.Second
)

var loopback4 = netip.MustParseAddrPort("127.0.0.1:0")

func listen(t *testing.T, addr netip.AddrPort, batch int) *UDPConn {
	t.Helper()
	c, err := Listen(addr, batch)
	if err != nil {
		t.Fatalf("Listen(%v, %d): %v", addr, batch, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closeAfter closes c after testTimeout so that a test that loses a datagram
// fails instead of hanging.
func closeAfter(t *testing.T, c Conn) {
	timer := time.AfterFunc(testTimeout, func() { c.Close() })
	t.Cleanup(func() { timer.Stop() })
}

// payload returns datagram i of a test: size bytes derived from i, behind
// testOffset bytes of headroom filled with 0xee.
func payload(i, size int) []byte {
	b := bytes.Repeat([]byte{0xee}, testOffset+size)
	for j := range size {
		b[testOffset+j] = byte(i + j*3)
	}
	return b
}

// readN reads n datagrams from c in batches and returns them with their
// senders and the largest batch seen.
func readN(t *testing.T, c Conn, n int) (got [][]byte, from []netip.AddrPort, maxBatch int) {
	t.Helper()
	bufs := make([][]byte, c.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, testOffset+65536)
	}
	sizes := make([]int, len(bufs))
	senders := make([]netip.AddrPort, len(bufs))
	for len(got) < n {
		k, err := c.ReadBatch(bufs, sizes, senders, testOffset)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d datagrams: %v", len(got), n, err)
		}
		maxBatch = max(maxBatch, k)
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][testOffset:testOffset+sizes[i]]))
			from = append(from, senders[i])
		}
	}
	return got, from, maxBatch
}

func TestUDPConnLoopbackBatch(t *testing.T) {
	a := listen(t, loopback4, 16)
	b := listen(t, loopback4, 16)
	closeAfter(t, b)
	for _, c := range []*UDPConn{a, b} {
		if ap := c.LocalAddr(); ap.Addr() != loopback4.Addr() || ap.Port() == 0 {
			t.Fatalf("LocalAddr() = %v; want 127.0.0.1 and a real port", ap)
		}
	}
	const count = 50
	bufs := make([][]byte, count)
	to := make([]netip.AddrPort, count)
	for i := range bufs {
		bufs[i] = payload(i, (i*397)%1500) // includes an empty datagram
		to[i] = b.LocalAddr()
	}
	if n, err := a.WriteBatch(bufs, to, testOffset); n != count || err != nil {
		t.Fatalf("WriteBatch = (%d, %v); want (%d, nil)", n, err, count)
	}
	got, from, maxBatch := readN(t, b, count)
	for i := range got {
		if want := bufs[i][testOffset:]; !bytes.Equal(got[i], want) {
			t.Errorf("datagram %d: got %d bytes % x...; want %d bytes", i, len(got[i]), got[i][:min(8, len(got[i]))], len(want))
		}
		if from[i] != a.LocalAddr() {
			t.Errorf("datagram %d: from %v; want %v", i, from[i], a.LocalAddr())
		}
	}
	if b.BatchSize() > 1 && maxBatch < 2 {
		t.Errorf("largest ReadBatch = %d datagrams; want batching (BatchSize %d)", maxBatch, b.BatchSize())
	}
}

func TestUDPConnDualStackUnmapsSender(t *testing.T) {
	b, err := Listen(netip.MustParseAddrPort("[::]:0"), 4)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer b.Close()
	closeAfter(t, b)
	a := listen(t, loopback4, 4)
	to := netip.AddrPortFrom(loopback4.Addr(), b.LocalAddr().Port())
	if n, err := a.WriteBatch([][]byte{payload(1, 20)}, []netip.AddrPort{to}, testOffset); n != 1 {
		t.Fatalf("WriteBatch = (%d, %v); want (1, nil)", n, err)
	}
	_, from, _ := readN(t, b, 1)
	if from[0] != a.LocalAddr() {
		t.Fatalf("from = %v; want %v", from[0], a.LocalAddr())
	}

	// Reply from the IPv6 socket to the IPv4 sender.
	closeAfter(t, a)
	if n, err := b.WriteBatch([][]byte{payload(2, 30)}, from, testOffset); n != 1 {
		t.Fatalf("reply WriteBatch = (%d, %v); want (1, nil)", n, err)
	}
	if _, from, _ := readN(t, a, 1); from[0].Port() != b.LocalAddr().Port() || !from[0].Addr().Is4() {
		t.Errorf("reply from %v; want 127.0.0.1:%d", from[0], b.LocalAddr().Port())
	}
}

func TestUDPConnWriteBatchSkipsRefused(t *testing.T) {
	a := listen(t, loopback4, 8)
	b := listen(t, loopback4, 8)
	closeAfter(t, b)
	bufs := [][]byte{payload(1, 100), payload(2, 70000), payload(3, 100)}
	to := []netip.AddrPort{b.LocalAddr(), b.LocalAddr(), b.LocalAddr()}
	n, err := a.WriteBatch(bufs, to, testOffset)
	if n != 2 || !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("WriteBatch = (%d, %v); want (2, EMSGSIZE)", n, err)
	}
	got, _, _ := readN(t, b, 2)
	if !bytes.Equal(got[0], bufs[0][testOffset:]) || !bytes.Equal(got[1], bufs[2][testOffset:]) {
		t.Errorf("received the wrong datagrams around the refused one")
	}
}

func TestUDPConnWriteBatchLargerThanBatchSize(t *testing.T) {
	a := listen(t, loopback4, 3)
	b := listen(t, loopback4, 3)
	closeAfter(t, b)
	bufs := make([][]byte, 10)
	to := make([]netip.AddrPort, len(bufs))
	for i := range bufs {
		bufs[i], to[i] = payload(i, 10+i), b.LocalAddr()
	}
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch = (%d, %v); want (%d, nil)", n, err, len(bufs))
	}
	got, _, maxBatch := readN(t, b, len(bufs))
	for i := range got {
		if !bytes.Equal(got[i], bufs[i][testOffset:]) {
			t.Errorf("datagram %d differs", i)
		}
	}
	if maxBatch > b.BatchSize() {
		t.Errorf("ReadBatch returned %d datagrams; want at most BatchSize %d", maxBatch, b.BatchSize())
	}
}

func TestUDPConnTruncates(t *testing.T) {
	a := listen(t, loopback4, 1)
	b := listen(t, loopback4, 1)
	closeAfter(t, b)
	msg := payload(7, 100)
	if _, err := a.WriteBatch([][]byte{msg}, []netip.AddrPort{b.LocalAddr()}, testOffset); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, testOffset+40)
	sizes, from := make([]int, 1), make([]netip.AddrPort, 1)
	if n, err := b.ReadBatch([][]byte{buf}, sizes, from, testOffset); n != 1 || err != nil {
		t.Fatalf("ReadBatch = (%d, %v); want (1, nil)", n, err)
	}
	if sizes[0] != 40 || !bytes.Equal(buf[testOffset:], msg[testOffset:testOffset+40]) {
		t.Errorf("size = %d; want 40 bytes, the head of the datagram", sizes[0])
	}
}

func TestUDPConnCloseUnblocksRead(t *testing.T) {
	c, err := Listen(loopback4, 4)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 64)}
		_, err := c.ReadBatch(bufs, make([]int, 1), make([]netip.AddrPort, 1), 0)
		done <- err
	}()
	// Close must wake a ReadBatch that waits in the poller, not only fail
	// one that comes after it.
	poll.Until(t, testTimeout, "ReadBatch to wait in the poller", poll.Parked("IO wait", "encap.(*UDPConn).ReadBatch"))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadBatch after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ReadBatch still blocked after Close")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v; want nil", err)
	}
	buf := [][]byte{make([]byte, 64)}
	if _, err := c.ReadBatch(buf, make([]int, 1), make([]netip.AddrPort, 1), 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch on closed conn: %v; want net.ErrClosed", err)
	}
	if n, err := c.WriteBatch(buf, []netip.AddrPort{c.LocalAddr()}, 0); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteBatch on closed conn = (%d, %v); want (0, net.ErrClosed)", n, err)
	}
}

func TestListenErrors(t *testing.T) {
	busy := listen(t, loopback4, 1)
	tests := []struct {
		name  string
		addr  netip.AddrPort
		batch int
	}{
		{"zero batch", loopback4, 0},
		{"invalid address", netip.AddrPort{}, 1},
		{"address in use", busy.LocalAddr(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Listen(tt.addr, tt.batch)
			if err == nil {
				c.Close()
				t.Fatalf("Listen(%v, %d) succeeded; want an error", tt.addr, tt.batch)
			}
		})
	}
}
