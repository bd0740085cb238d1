//go:build linux

package encap

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// countingConn counts the messages that pass through a batchConn's
// WriteBatch, and can refuse UDP_SEGMENT messages with an error.
type countingConn struct {
	batchConn
	wrote, segmented int   // messages sent, and of those UDP_SEGMENT ones
	refuse           error // returned for a UDP_SEGMENT message
}

func (c *countingConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	for i := range ms {
		if ms[i].OOB != nil && c.refuse != nil {
			if i == 0 {
				return 0, c.refuse
			}
			ms = ms[:i]
			break
		}
	}
	n, err := c.batchConn.WriteBatch(ms, flags)
	for i := range max(n, 0) {
		c.wrote++
		if ms[i].OOB != nil {
			c.segmented++
		}
	}
	return n, err
}

func counting(c *UDPConn) *countingConn {
	cc := &countingConn{batchConn: c.pc}
	c.pc = cc
	return cc
}

func TestGSOGroup(t *testing.T) {
	a, b := netip.MustParseAddrPort("198.18.0.1:4789"), netip.MustParseAddrPort("198.18.0.2:4789")
	mk := func(sizes ...int) [][]byte {
		bufs := make([][]byte, len(sizes))
		for i, s := range sizes {
			bufs[i] = make([]byte, testOffset+s)
		}
		return bufs
	}
	same := func(n int, ap netip.AddrPort) []netip.AddrPort {
		to := make([]netip.AddrPort, n)
		for i := range to {
			to[i] = ap
		}
		return to
	}
	many := make([]int, 100)
	for i := range many {
		many[i] = 1000
	}
	for _, tc := range []struct {
		name  string
		sizes []int
		to    []netip.AddrPort
		want  int
	}{
		{"one", []int{1400}, same(1, a), 1},
		{"equal sizes", []int{1400, 1400, 1400}, same(3, a), 3},
		{"shorter last ends the run", []int{1400, 1400, 900, 1400}, same(4, a), 3},
		{"longer one ends the run", []int{900, 1400}, same(2, a), 1},
		{"another destination ends the run", []int{1400, 1400, 1400}, []netip.AddrPort{a, a, b}, 2},
		{"an empty datagram goes alone", []int{0, 0}, same(2, a), 1},
		{"an empty datagram ends the run", []int{1400, 0}, same(2, a), 1},
		{"at most maxGSOSegments", many, same(len(many), a), maxGSOSegments},
		{"at most maxGSOBytes", []int{30000, 30000, 30000}, same(3, a), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gsoGroup(mk(tc.sizes...), tc.to, testOffset); got != tc.want {
				t.Errorf("gsoGroup = %d; want %d", got, tc.want)
			}
		})
	}
}

// offloadBatch returns datagrams to dst with runs of equal sizes, shorter
// tails, single datagrams and an empty one, interleaved with datagrams to
// other.
func offloadBatch(dst, other netip.AddrPort) (bufs [][]byte, to []netip.AddrPort) {
	add := func(size int, ap netip.AddrPort) {
		bufs = append(bufs, payload(len(bufs), size))
		to = append(to, ap)
	}
	for range 20 {
		add(1458, dst)
	}
	add(700, dst)
	add(1458, other)
	for range 5 {
		add(300, dst)
	}
	add(0, dst)
	for range 70 { // longer than one UDP_SEGMENT message may be
		add(900, dst)
	}
	add(17, dst)
	return bufs, to
}

func TestUDPConnSegmentsAndCoalesces(t *testing.T) {
	a := listen(t, loopback4, 128)
	b := listen(t, loopback4, 128)
	other := listen(t, loopback4, 128)
	gso, _ := a.Offload()
	requireKernel(t, gso, "UDP_SEGMENT")
	_, gro := b.Offload()
	requireKernel(t, gro, "UDP_GRO")
	closeAfter(t, b)
	closeAfter(t, other)
	ac := counting(a)
	bufs, to := offloadBatch(b.LocalAddr(), other.LocalAddr())
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch = (%d, %v); want (%d, nil)", n, err, len(bufs))
	}
	var want [][]byte
	for i := range bufs {
		if to[i] == b.LocalAddr() {
			want = append(want, bufs[i][testOffset:])
		}
	}
	got, from, _ := readN(t, b, len(want))
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("datagram %d: got %d bytes; want %d bytes, in order", i, len(got[i]), len(want[i]))
		}
		if from[i] != a.LocalAddr() {
			t.Errorf("datagram %d from %v; want %v", i, from[i], a.LocalAddr())
		}
	}
	if o, _, _ := readN(t, other, 1); len(o[0]) != 1458 {
		t.Errorf("other destination got %d bytes; want 1458", len(o[0]))
	}
	if ac.segmented == 0 || ac.wrote >= len(bufs)/2 {
		t.Errorf("sent %d messages (%d with UDP_SEGMENT) for %d datagrams; want runs sent as one", ac.wrote, ac.segmented, len(bufs))
	}
	if b.readCoalesced == 0 || b.readMsgs >= len(want)/2 {
		t.Errorf("read %d messages (%d coalesced) for %d datagrams; want runs read as one", b.readMsgs, b.readCoalesced, len(want))
	}
}

// A run is handed out over as many ReadBatch calls as the caller's buffers
// need, with nothing lost.
func TestUDPConnHandsOutARunInParts(t *testing.T) {
	a := listen(t, loopback4, 64)
	b := listen(t, loopback4, 64)
	closeAfter(t, b)
	bufs, to := make([][]byte, 40), make([]netip.AddrPort, 40)
	for i := range bufs {
		bufs[i], to[i] = payload(i, 1200), b.LocalAddr()
	}
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch = (%d, %v)", n, err)
	}
	small := make([][]byte, 3)
	for i := range small {
		small[i] = make([]byte, testOffset+1500)
	}
	sizes, from := make([]int, 3), make([]netip.AddrPort, 3)
	for i := 0; i < len(bufs); {
		n, err := b.ReadBatch(small, sizes, from, testOffset)
		if err != nil || n == 0 || n > 3 {
			t.Fatalf("ReadBatch = (%d, %v) after %d datagrams", n, err, i)
		}
		for j := range n {
			if !bytes.Equal(small[j][testOffset:testOffset+sizes[j]], bufs[i][testOffset:]) {
				t.Fatalf("datagram %d differs", i)
			}
			i++
		}
	}
}

// A UDP_SEGMENT message the kernel refuses is sent again one datagram at a
// time; EIO turns UDP_SEGMENT off, EINVAL does not.
func TestUDPConnGSOFallback(t *testing.T) {
	for _, tc := range []struct {
		err     syscall.Errno
		stillOn bool
	}{{syscall.EIO, false}, {syscall.EINVAL, true}} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			a := listen(t, loopback4, 64)
			b := listen(t, loopback4, 64)
			closeAfter(t, b)
			gso, _ := a.Offload()
			requireKernel(t, gso, "UDP_SEGMENT")
			ac := counting(a)
			ac.refuse = tc.err
			bufs, to := offloadBatch(b.LocalAddr(), b.LocalAddr())
			if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
				t.Fatalf("WriteBatch = (%d, %v); want (%d, nil)", n, err, len(bufs))
			}
			got, _, _ := readN(t, b, len(bufs))
			for i := range bufs {
				if !bytes.Equal(got[i], bufs[i][testOffset:]) {
					t.Errorf("datagram %d differs", i)
				}
			}
			if ac.segmented != 0 {
				t.Errorf("%d UDP_SEGMENT messages went through the refusing conn", ac.segmented)
			}
			if gso, _ := a.Offload(); gso != tc.stillOn {
				t.Errorf("after %v: UDP_SEGMENT on = %v; want %v", tc.err, gso, tc.stillOn)
			}
		})
	}
}

// refusals records what a set of sockets reports to WithOffloadRefused.
type refusals struct {
	mu  sync.Mutex
	got []refusal
}

type refusal struct {
	o   Offload
	err error
}

func (r refusal) String() string { return fmt.Sprintf("%v: %v", r.o, r.err) }

func (r *refusals) option() Option {
	return WithOffloadRefused(func(o Offload, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, refusal{o, err})
	})
}

func (r *refusals) list() []refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// lacking plays a kernel that refuses UDP_SEGMENT with gsoErr and UDP_GRO
// with groErr (nil: it has them) for the sockets the test opens.
func lacking(t *testing.T, gsoErr, groErr error) {
	real := offloadSockopts
	offloadSockopts = func(fd int) (error, error) {
		gso, gro := real(fd)
		if gso == nil {
			gso = gsoErr
		}
		if gro == nil && groErr != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 0); err != nil {
				t.Errorf("turn UDP_GRO off again: %v", err)
			}
			gro = groErr
		}
		return gso, gro
	}
	t.Cleanup(func() { offloadSockopts = real })
}

// An offload the kernel does not have is reported once for the set of
// sockets, when they are opened, and the sockets work without it.
func TestListenReportsOffloadsTheKernelLacks(t *testing.T) {
	gso, gro := listen(t, loopback4, 1).Offload()
	requireKernel(t, gso, "UDP_SEGMENT")
	requireKernel(t, gro, "UDP_GRO")
	for _, tc := range []struct {
		name        string
		gsoErr      error
		groErr      error
		queues      int
		wantRefused []Offload
	}{
		{"no UDP_SEGMENT", unix.ENOPROTOOPT, nil, 1, []Offload{OffloadSegment}},
		{"no UDP_GRO", nil, unix.ENOPROTOOPT, 1, []Offload{OffloadGRO}},
		{"neither", unix.ENOPROTOOPT, unix.ENOPROTOOPT, 1, []Offload{OffloadSegment, OffloadGRO}},
		{"no UDP_GRO, three queues", nil, unix.ENOPROTOOPT, 3, []Offload{OffloadGRO}},
		{"neither, three queues", unix.ENOPROTOOPT, unix.ENOPROTOOPT, 3, []Offload{OffloadSegment, OffloadGRO}},
		{"both", nil, nil, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lacking(t, tc.gsoErr, tc.groErr)
			var r refusals
			conns, err := ListenQueues(loopback4, 64, tc.queues, r.option())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range conns {
				t.Cleanup(func() { c.Close() })
			}
			got := r.list()
			var offloads []Offload
			for _, g := range got {
				offloads = append(offloads, g.o)
				if !errors.Is(g.err, unix.ENOPROTOOPT) || !strings.Contains(g.err.Error(), g.o.String()) {
					t.Errorf("%v refused with %q; want an error naming it, matching ENOPROTOOPT", g.o, g.err)
				}
			}
			if !slices.Equal(offloads, tc.wantRefused) {
				t.Errorf("refused %v; want %v, each once", offloads, tc.wantRefused)
			}
			for i, c := range conns {
				if gso, gro := c.Offload(); gso != (tc.gsoErr == nil) || gro != (tc.groErr == nil) {
					t.Errorf("queue %d: Offload() = (%v, %v); want (%v, %v)", i, gso, gro, tc.gsoErr == nil, tc.groErr == nil)
				}
			}
			if tc.queues == 1 {
				checkWithout(t, conns[0], tc.gsoErr != nil, tc.groErr != nil)
			}
		})
	}
}

// checkWithout checks that c sends and reads a batch with runs in it
// whole, with neither UDP_SEGMENT messages if noGSO nor coalesced reads if
// noGRO.
func checkWithout(t *testing.T, c *UDPConn, noGSO, noGRO bool) {
	t.Helper()
	peer := listen(t, loopback4, 64)
	closeAfter(t, peer)
	closeAfter(t, c)
	cc := counting(c)
	for _, p := range [][2]*UDPConn{{c, peer}, {peer, c}} {
		bufs, to := offloadBatch(p[1].LocalAddr(), p[1].LocalAddr())
		if n, err := p[0].WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
			t.Fatalf("WriteBatch = (%d, %v); want (%d, nil)", n, err, len(bufs))
		}
		got, _, _ := readN(t, p[1], len(bufs))
		for i := range bufs {
			if !bytes.Equal(got[i], bufs[i][testOffset:]) {
				t.Fatalf("datagram %d differs", i)
			}
		}
	}
	if noGSO && cc.segmented != 0 {
		t.Errorf("sent %d UDP_SEGMENT messages without UDP_SEGMENT", cc.segmented)
	}
	if noGRO && c.readCoalesced != 0 {
		t.Errorf("read %d coalesced runs without UDP_GRO", c.readCoalesced)
	}
}

// EIO on UDP_SEGMENT sends of every socket of a set, however many, turns
// UDP_SEGMENT off on all of them and is reported once.
func TestUDPConnEIORefusesGSOOnceForTheSet(t *testing.T) {
	var r refusals
	conns, err := ListenQueues(loopback4, 128, 3, r.option())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		t.Cleanup(func() { c.Close() })
	}
	gso, _ := conns[0].Offload()
	requireKernel(t, gso, "UDP_SEGMENT")
	if got := r.list(); len(got) != 0 {
		t.Fatalf("refused at open: %v; want nothing", got)
	}
	b := listen(t, loopback4, 128) // never read: the kernel drops what overflows
	bufs, to := offloadBatch(b.LocalAddr(), b.LocalAddr())
	ccs := make([]*countingConn, len(conns))
	for i, c := range conns {
		ccs[i] = counting(c)
		ccs[i].refuse = syscall.EIO
	}
	// Each socket sends as if it had packed its batch before another
	// turned UDP_SEGMENT off, so all of them are refused, at once.
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for range 3 {
				c.wmu.Lock()
				n, err := c.writeChunk(c.wsend, bufs, to, testOffset, true)
				c.wmu.Unlock()
				if n != len(bufs) || err != nil {
					t.Errorf("queue %d: writeChunk = (%d, %v); want (%d, nil)", i, n, err, len(bufs))
				}
			}
		})
	}
	wg.Wait()
	for i, c := range conns {
		if n, err := c.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
			t.Errorf("queue %d: WriteBatch = (%d, %v); want (%d, nil)", i, n, err, len(bufs))
		}
		if gso, _ := c.Offload(); gso {
			t.Errorf("queue %d: UDP_SEGMENT on after EIO", i)
		}
		if ccs[i].segmented != 0 {
			t.Errorf("queue %d: %d UDP_SEGMENT messages went through the refusing conn", i, ccs[i].segmented)
		}
	}
	got := r.list()
	if len(got) != 1 {
		t.Fatalf("reported %d refusals: %v; want 1", len(got), got)
	}
	if got[0].o != OffloadSegment || !errors.Is(got[0].err, syscall.EIO) || !strings.Contains(got[0].err.Error(), "UDP_SEGMENT") {
		t.Errorf("reported (%v, %q); want UDP_SEGMENT with an error naming it, matching EIO", got[0].o, got[0].err)
	}
}

func TestUDPConnDisableOffload(t *testing.T) {
	var r refusals
	a, err := Listen(loopback4, 64, r.option())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := listen(t, loopback4, 64)
	closeAfter(t, b)
	for _, c := range []*UDPConn{a, b} {
		if err := c.DisableOffload(); err != nil {
			t.Fatal(err)
		}
		if gso, gro := c.Offload(); gso || gro {
			t.Fatalf("Offload() = (%v, %v) after DisableOffload", gso, gro)
		}
	}
	ac := counting(a)
	bufs, to := offloadBatch(b.LocalAddr(), b.LocalAddr())
	if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
		t.Fatalf("WriteBatch = (%d, %v)", n, err)
	}
	readN(t, b, len(bufs))
	if ac.segmented != 0 || b.readCoalesced != 0 || ac.wrote != len(bufs) {
		t.Errorf("sent %d messages (%d segmented), read %d coalesced; want one message per datagram", ac.wrote, ac.segmented, b.readCoalesced)
	}
	if got := r.list(); len(got) != 0 {
		t.Errorf("offloads turned off on request reported refused: %v; want nothing", got)
	}
}

func TestUDPConnSegmentedWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under -race")
	}
	a := listen(t, loopback4, 128)
	b := listen(t, loopback4, 128) // never read: the kernel drops what overflows
	bufs, to := offloadBatch(b.LocalAddr(), b.LocalAddr())
	allocs := testing.AllocsPerRun(50, func() {
		if n, err := a.WriteBatch(bufs, to, testOffset); n != len(bufs) || err != nil {
			t.Fatalf("WriteBatch = (%d, %v)", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteBatch with UDP_SEGMENT runs: %v allocs per run; want 0", allocs)
	}
}

// requireKernel skips a test the kernel lacks a feature for, or fails it
// where the tests must run (WEFT_REQUIRE_ROOT_TESTS=1, as make test sets as
// root, and so CI): there a missing offload is a regression, not a skip.
func requireKernel(t *testing.T, ok bool, feature string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
		t.Fatalf("the socket did not get %s", feature)
	}
	t.Skipf("the kernel has no %s", feature)
}
