package encap

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/weftnet/weft/internal/poll"
	"golang.org/x/sys/unix"
)

func TestUDPConnWriteBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under -race")
	}
	a := listen(t, loopback4, 32)
	b := listen(t, loopback4, 32) // never read: the kernel drops what overflows
	bufs := make([][]byte, 32)
	to := make([]netip.AddrPort, len(bufs))
	for i := range bufs {
		bufs[i], to[i] = payload(i, 64), b.LocalAddr()
	}
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
			t.Fatalf("WriteBatch = (%d, %v)", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteBatch of %d datagrams: %v allocs per run; want 0", len(bufs), allocs)
	}
}

// refusedPort returns a loopback address where nothing listens.
func refusedPort(t *testing.T) netip.AddrPort {
	c := listen(t, loopback4, 1)
	ap := c.LocalAddr()
	c.Close()
	return ap
}

// provokeICMP makes c send to a closed port and waits for the ICMP port
// unreachable. c has IP_RECVERR set, without which Linux does not report ICMP
// errors on an unconnected UDP socket.
func provokeICMP(t *testing.T, c *UDPConn) {
	t.Helper()
	raw, err := c.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	}); err != nil || serr != nil {
		t.Fatalf("set IP_RECVERR: %v %v", err, serr)
	}
	if n, err := c.WriteBatch([][]byte{payload(0, 8)}, []netip.AddrPort{refusedPort(t)}, testOffset); n != 1 {
		t.Fatalf("WriteBatch to closed port = (%d, %v)", n, err)
	}
	// The socket polls with POLLERR once the error is queued; unlike
	// SO_ERROR or a read of the error queue, asking does not clear it.
	poll.Until(t, testTimeout, "the ICMP error on the socket", func() bool {
		var revents int16
		_ = raw.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd)}}
			if _, err := unix.Poll(fds, 0); err == nil {
				revents = fds[0].Revents
			}
		})
		return revents&unix.POLLERR != 0
	})
}

func TestUDPConnICMPErrorIsReal(t *testing.T) {
	// Precondition of the next test: the scenario leaves ECONNREFUSED for a
	// plain recvmmsg.
	c := listen(t, loopback4, 4)
	provokeICMP(t, c)
	_, err := c.recv.read([][]byte{make([]byte, 64)}, nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recvmmsg after ICMP: %v; want ECONNREFUSED", err)
	}
}

func TestUDPConnReadBatchAbsorbsICMPError(t *testing.T) {
	a := listen(t, loopback4, 4)
	b := listen(t, loopback4, 4)
	closeAfter(t, a)
	provokeICMP(t, a)
	msg := payload(5, 33)
	if n, err := b.WriteBatch([][]byte{msg}, []netip.AddrPort{a.LocalAddr()}, testOffset); n != 1 {
		t.Fatalf("WriteBatch = (%d, %v)", n, err)
	}
	got, from, _ := readN(t, a, 1)
	if string(got[0]) != string(msg[testOffset:]) || from[0] != b.LocalAddr() {
		t.Errorf("got %d bytes from %v; want %d bytes from %v", len(got[0]), from[0], len(msg)-testOffset, b.LocalAddr())
	}
}

func TestUDPConnWriteBatchAfterICMPError(t *testing.T) {
	// The kernel fails the next send with the pending ECONNREFUSED; that
	// datagram is innocent and must still go out.
	a := listen(t, loopback4, 4)
	b := listen(t, loopback4, 4)
	closeAfter(t, b)
	provokeICMP(t, a)
	bufs := [][]byte{payload(1, 10), payload(2, 20), payload(3, 30)}
	to := []netip.AddrPort{b.LocalAddr(), b.LocalAddr(), b.LocalAddr()}
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch after ICMP = (%d, %v); want (%d, nil)", n, err, len(bufs))
	}
	got, _, _ := readN(t, b, len(bufs))
	for i := range got {
		if string(got[i]) != string(bufs[i][testOffset:]) {
			t.Errorf("datagram %d differs", i)
		}
	}
}

// The socket's buffers hold bursts: at least socketBufferSize each, past
// net.core.rmem_max and wmem_max when the test runs with CAP_NET_ADMIN.
func TestUDPConnBuffersSizedForBursts(t *testing.T) {
	c := listen(t, loopback4, 4)
	raw, err := c.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rcv, snd int
	var rerr, serr error
	if err := raw.Control(func(fd uintptr) {
		rcv, rerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil || rerr != nil || serr != nil {
		t.Fatal(err, rerr, serr)
	}
	if unix.Geteuid() != 0 {
		t.Skipf("not root: buffers %d and %d, capped by the kernel", rcv, snd)
	}
	// The kernel reports twice what was set, for its bookkeeping.
	if rcv < socketBufferSize || snd < socketBufferSize {
		t.Errorf("SO_RCVBUF %d, SO_SNDBUF %d; want at least %d each", rcv, snd, socketBufferSize)
	}
}

// Reading allocates nothing per datagram, with UDP_GRO and without.
func TestUDPConnReadBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under -race")
	}
	for _, gro := range []bool{true, false} {
		a := listen(t, loopback4, 32)
		b := listen(t, loopback4, 32)
		if !gro {
			if err := b.DisableOffload(); err != nil {
				t.Fatal(err)
			}
		}
		bufs, to := make([][]byte, 32), make([]netip.AddrPort, 32)
		for i := range bufs {
			bufs[i], to[i] = payload(i, 1000), b.LocalAddr()
		}
		rbufs := make([][]byte, 32)
		for i := range rbufs {
			rbufs[i] = make([]byte, testOffset+2048)
		}
		sizes, from := make([]int, 32), make([]netip.AddrPort, 32)
		allocs := testing.AllocsPerRun(50, func() {
			if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
				t.Fatalf("WriteBatch = (%d, %v)", n, err)
			}
			for got := 0; got < len(bufs); {
				n, err := b.ReadBatch(rbufs, sizes, from, testOffset)
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
		})
		if allocs != 0 {
			t.Errorf("UDP_GRO %v: write and read of %d datagrams: %v allocs per run; want 0", gro, len(bufs), allocs)
		}
	}
}
