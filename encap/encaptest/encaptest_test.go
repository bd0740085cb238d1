package encaptest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

const offset = 8

var (
	hostA = netip.MustParseAddrPort("198.18.0.1:4789")
	hostB = netip.MustParseAddrPort("198.18.0.2:4789")
)

func listen(t *testing.T, n *Network, addr netip.AddrPort, batch int) *Conn {
	t.Helper()
	c, err := n.Listen(addr, batch)
	if err != nil {
		t.Fatalf("Listen(%v, %d): %v", addr, batch, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type reader struct {
	bufs  [][]byte
	sizes []int
	from  []netip.AddrPort
}

func newReader(n, size int) *reader {
	r := &reader{bufs: make([][]byte, n), sizes: make([]int, n), from: make([]netip.AddrPort, n)}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, offset+size)
	}
	return r
}

func (r *reader) read(t *testing.T, c *Conn) int {
	t.Helper()
	n, err := c.ReadBatch(r.bufs, r.sizes, r.from, offset)
	if err != nil {
		t.Fatalf("ReadBatch: %v", err)
	}
	return n
}

func (r *reader) datagram(i int) []byte { return r.bufs[i][offset : offset+r.sizes[i]] }

// withOffset returns b behind offset bytes of headroom.
func withOffset(b []byte) []byte { return append(make([]byte, offset), b...) }

func TestWriteBatchDelivers(t *testing.T) {
	n := NewNetwork()
	a, b := listen(t, n, hostA, 8), listen(t, n, hostB, 8)
	nowhere := netip.MustParseAddrPort("198.18.0.99:4789")
	bufs := [][]byte{withOffset([]byte("one")), withOffset([]byte("lost")), withOffset([]byte("three"))}
	to := []netip.AddrPort{hostB, nowhere, netip.AddrPortFrom(netip.AddrFrom16(hostB.Addr().As16()), hostB.Port())}
	if k, err := a.WriteBatch(bufs, to, offset); k != 3 || err != nil {
		t.Fatalf("WriteBatch = (%d, %v); want (3, nil)", k, err)
	}
	copy(bufs[0][offset:], "XXX") // b must hold its own copy
	r := newReader(8, 64)
	if k := r.read(t, b); k != 2 {
		t.Fatalf("ReadBatch = %d datagrams; want 2", k)
	}
	for i, want := range []string{"one", "three"} {
		if got := string(r.datagram(i)); got != want || r.from[i] != hostA {
			t.Errorf("datagram %d = %q from %v; want %q from %v", i, got, r.from[i], want, hostA)
		}
	}
}

func TestListen(t *testing.T) {
	n := NewNetwork()
	listen(t, n, hostA, 1)
	p1 := listen(t, n, netip.MustParseAddrPort("198.18.0.1:0"), 1).LocalAddr()
	p2 := listen(t, n, netip.MustParseAddrPort("198.18.0.1:0"), 1).LocalAddr()
	if p1.Port() == 0 || p1 == p2 {
		t.Errorf("port-0 Listens bound %v and %v; want two distinct real ports", p1, p2)
	}
	tests := []struct {
		name  string
		addr  netip.AddrPort
		batch int
	}{
		{"in use", hostA, 1},
		{"invalid", netip.AddrPort{}, 1},
		{"zero batch", hostB, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := n.Listen(tt.addr, tt.batch); err == nil {
				c.Close()
				t.Errorf("Listen(%v, %d) succeeded; want an error", tt.addr, tt.batch)
			}
		})
	}
	if _, err := n.Listen(hostA, 1); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("Listen on a bound address: %v; want ErrAddrInUse", err)
	}
}

func TestWildcardBind(t *testing.T) {
	n := NewNetwork()
	a := listen(t, n, hostA, 1)
	wild := listen(t, n, netip.MustParseAddrPort("0.0.0.0:4789"), 1)
	a.WriteBatch([][]byte{withOffset([]byte("hi"))}, []netip.AddrPort{hostB}, offset)
	r := newReader(1, 16)
	if k := r.read(t, wild); k != 1 || string(r.datagram(0)) != "hi" {
		t.Errorf("wildcard Conn read %d datagrams %q; want 1 \"hi\"", k, r.datagram(0))
	}
}

func TestReadBatchLimits(t *testing.T) {
	tests := []struct {
		name        string
		queued      int
		bufs, batch int
		want        int
	}{
		{"all queued", 5, 8, 8, 5},
		{"bounded by bufs", 5, 3, 8, 3},
		{"bounded by batch size", 5, 8, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := listen(t, NewNetwork(), hostA, tt.batch)
			for i := range tt.queued {
				c.Inject([]byte{byte(i)}, hostB)
			}
			r := newReader(tt.bufs, 16)
			if k := r.read(t, c); k != tt.want {
				t.Errorf("ReadBatch = %d; want %d", k, tt.want)
			}
		})
	}
}

func TestInjectTruncatesAndUnmaps(t *testing.T) {
	c := listen(t, NewNetwork(), hostA, 4)
	garbage := bytes.Repeat([]byte{0xff}, 100)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(hostB.Addr().As16()), 1234)
	c.Inject(garbage, mapped)
	r := newReader(1, 10)
	r.read(t, c)
	if r.sizes[0] != 10 || !bytes.Equal(r.datagram(0), garbage[:10]) {
		t.Errorf("size = %d; want 10 (truncated)", r.sizes[0])
	}
	if want := netip.AddrPortFrom(hostB.Addr(), 1234); r.from[0] != want {
		t.Errorf("from = %v; want %v", r.from[0], want)
	}
}

func TestQueueBound(t *testing.T) {
	c := listen(t, NewNetwork(), hostA, QueueLen)
	for i := range QueueLen + 10 {
		c.Inject([]byte{byte(i)}, hostB)
	}
	if got := c.Dropped(); got != 10 {
		t.Errorf("Dropped() = %d; want 10", got)
	}
	r := newReader(QueueLen+10, 4)
	last := QueueLen - 1
	if k := r.read(t, c); k != QueueLen || r.datagram(last)[0] != byte(last) {
		t.Errorf("ReadBatch = %d; want the first %d datagrams", k, QueueLen)
	}
}

func TestCloseUnblocksAndUnbinds(t *testing.T) {
	n := NewNetwork()
	a := listen(t, n, hostA, 1)
	b, _ := n.Listen(hostB, 1)
	done := make(chan error, 1)
	go func() {
		_, err := b.ReadBatch(newReader(1, 8).bufs, make([]int, 1), make([]netip.AddrPort, 1), 0)
		done <- err
	}()
	poll.Until(t, 5*time.Second, "ReadBatch to wait", poll.Parked("select", "encaptest.(*Conn).ReadBatch"))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadBatch after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch still blocked after Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v; want nil", err)
	}
	if _, err := b.WriteBatch([][]byte{{1}}, []netip.AddrPort{hostA}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteBatch after Close: %v; want net.ErrClosed", err)
	}
	// Writing to the closed address is a silent drop, and the address is free.
	if k, err := a.WriteBatch([][]byte{withOffset([]byte("stale"))}, []netip.AddrPort{hostB}, offset); k != 1 || err != nil {
		t.Errorf("WriteBatch to a closed Conn = (%d, %v); want (1, nil)", k, err)
	}
	b2 := listen(t, n, hostB, 1)
	a.WriteBatch([][]byte{withOffset([]byte("fresh"))}, []netip.AddrPort{hostB}, offset)
	r := newReader(1, 16)
	if r.read(t, b2); string(r.datagram(0)) != "fresh" {
		t.Errorf("rebound Conn read %q; want \"fresh\"", r.datagram(0))
	}
}

func TestConcurrent(t *testing.T) {
	const writers, perWriter = 4, 500
	n := NewNetwork()
	dst := listen(t, n, hostB, 16)
	var wg sync.WaitGroup
	for w := range writers {
		src := listen(t, n, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(w)}), 4789), 1)
		wg.Go(func() {
			for range perWriter {
				src.WriteBatch([][]byte{withOffset([]byte{byte(w)})}, []netip.AddrPort{hostB}, offset)
			}
		})
	}
	received := make(chan int)
	go func() {
		total, r := 0, newReader(16, 4)
		for {
			k, err := dst.ReadBatch(r.bufs, r.sizes, r.from, offset)
			if err != nil {
				received <- total
				return
			}
			total += k
		}
	}()
	wg.Wait()
	poll.Until(t, 5*time.Second, "the reader to empty dst's queue", func() bool {
		dst.mu.Lock()
		defer dst.mu.Unlock()
		return dst.n == 0
	})
	dst.Close()
	if got := uint64(<-received) + dst.Dropped(); got != writers*perWriter {
		t.Errorf("received + dropped = %d; want %d", got, writers*perWriter)
	}
}

func TestAllocs(t *testing.T) {
	n := NewNetwork()
	a, b := listen(t, n, hostA, 32), listen(t, n, hostB, 32)
	bufs := make([][]byte, 32)
	to := make([]netip.AddrPort, len(bufs))
	for i := range bufs {
		bufs[i], to[i] = withOffset(make([]byte, 1400)), hostB
	}
	r := newReader(32, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		a.WriteBatch(bufs, to, offset)
		b.ReadBatch(r.bufs, r.sizes, r.from, offset)
	})
	if allocs != 0 {
		t.Errorf("WriteBatch+ReadBatch of 32 datagrams: %v allocs per run; want 0", allocs)
	}
}
