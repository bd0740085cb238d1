package tap_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/tap"
	"golang.org/x/sys/unix"
)

func TestLinuxOpenName(t *testing.T) {
	tests := []struct {
		name    string
		open    string
		want    string
		wantErr bool
	}{
		{name: "given", open: "weftt0", want: "weftt0"},
		{name: "kernel numbered", open: "wt%d", want: "wt0"},
		{name: "kernel chosen", open: "", want: "tap0"},
		{name: "too long", open: "weft-name-too-long", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNS(t)
			var d *tap.Linux
			var err error
			n.do(t, func() error {
				d, err = tap.Open(tt.open)
				return nil
			})
			if tt.wantErr {
				if err == nil {
					d.Close()
					t.Fatalf("Open(%q) = %s, nil; want error", tt.open, d.Name())
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.open, err)
			}
			defer d.Close()
			if d.Name() != tt.want {
				t.Errorf("Name() = %q; want %q", d.Name(), tt.want)
			}
			link, err := n.nl.LinkByName(d.Name())
			if err != nil || link.Type() != "tuntap" {
				t.Errorf("link %s: %v, type %v; want a tuntap link", d.Name(), err, link)
			}
			if d.BatchSize() != tap.DefaultBatchSize {
				t.Errorf("BatchSize() = %d; want %d", d.BatchSize(), tap.DefaultBatchSize)
			}
		})
	}
}

func TestLinuxOpenAttachesToExisting(t *testing.T) {
	n := newTestNS(t)
	const name = "weftp0"
	n.do(t, func() error { return makePersistentTap(name) })
	before, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("persistent tap: %v", err)
	}
	d := n.open(t, name)
	after, err := n.nl.LinkByName(d.Name())
	if err != nil || after.Attrs().Index != before.Attrs().Index {
		t.Fatalf("after Open: link %v, %v; want the existing link %d", after, err, before.Attrs().Index)
	}
}

// makePersistentTap creates a TAP called name that outlives its descriptor.
func makePersistentTap(name string) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return err
	}
	return unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1)
}

func TestLinuxOpenQueues(t *testing.T) {
	n := newTestNS(t)
	var qs []*tap.Linux
	n.do(t, func() (err error) {
		qs, err = tap.OpenQueues("wq%d", 3, tap.WithBatchSize(16))
		return err
	})
	defer func() {
		for _, q := range qs {
			q.Close()
		}
	}()
	if len(qs) != 3 {
		t.Fatalf("OpenQueues returned %d queues; want 3", len(qs))
	}
	for i, q := range qs {
		if q.Name() != "wq0" || q.BatchSize() != 16 {
			t.Errorf("queue %d: Name() = %q, BatchSize() = %d; want wq0, 16", i, q.Name(), q.BatchSize())
		}
	}
	if _, err := tap.OpenQueues("wq0", 0); err == nil {
		t.Error("OpenQueues(wq0, 0) = nil error; want error")
	}
}

func TestLinuxWriteBatch(t *testing.T) {
	e := newTapEnv(t, "weftw0")
	want := [][]byte{testFrame(1, 60), testFrame(2, 1514), testFrame(3, 14), testFrame(4, 99), testFrame(5, 60)}
	bufs := make([][]byte, len(want))
	for i, f := range want {
		bufs[i] = withHeadroom(f)
	}
	if n, err := e.dev.Write(bufs, headroom); n != len(bufs) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(bufs))
	}
	got := recvFrames(t, e.rx, len(want))
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d arrived as %x; want %x", i, got[i], want[i])
		}
	}
}

func TestLinuxReadBatch(t *testing.T) {
	tests := []struct {
		name      string
		batch     int // device batch size
		bufs      int // buffers passed to Read
		sent      int
		wantFirst int // frames the first Read must return
	}{
		{"all in one call", 64, 8, 5, 5},
		{"capped by bufs", 64, 3, 5, 3},
		{"capped by batch size", 2, 8, 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTapEnv(t, "weftr0", tap.WithBatchSize(tt.batch))
			var want [][]byte
			for i := range tt.sent {
				want = append(want, testFrame(i, 60+i*100))
			}
			sendFrames(t, e.tx, want...)
			bufs, sizes := readBuffers(tt.bufs, headroom+2048)
			var got [][]byte
			for call := 0; len(got) < len(want) && call < 2*len(want); call++ {
				n, err := e.dev.Read(bufs, sizes, headroom)
				if err != nil {
					t.Fatalf("Read #%d: %v", call, err)
				}
				if call == 0 && n != tt.wantFirst {
					t.Errorf("first Read = %d frames; want %d in one call", n, tt.wantFirst)
				}
				for i := range n {
					if !bytes.Equal(bufs[i][:headroom], bytes.Repeat([]byte{0xee}, headroom)) {
						t.Errorf("Read wrote into headroom of buffer %d", i)
					}
					got = append(got, bytes.Clone(bufs[i][headroom:headroom+sizes[i]]))
				}
			}
			if len(got) != len(want) {
				t.Fatalf("read %d frames; want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("frame %d read as %x; want %x", i, got[i], want[i])
				}
			}
		})
	}
}

func TestLinuxReadTruncates(t *testing.T) {
	e := newTapEnv(t, "weftt0")
	long, next := testFrame(1, 100), testFrame(2, 60)
	sendFrames(t, e.tx, long, next)
	bufs, sizes := readBuffers(1, headroom+60)
	for i, want := range [][]byte{long[:60], next} {
		n, err := e.dev.Read(bufs, sizes, headroom)
		if err != nil || n != 1 {
			t.Fatalf("Read #%d = %d, %v; want 1, nil", i, n, err)
		}
		if got := bufs[0][headroom : headroom+sizes[0]]; !bytes.Equal(got, want) {
			t.Errorf("Read #%d = %x (size %d); want %x (size %d)", i, got, sizes[0], want, len(want))
		}
	}
}

func TestLinuxBadArguments(t *testing.T) {
	e := newTapEnv(t, "weftb0")
	sendFrames(t, e.tx, testFrame(1, 60))
	bufs, sizes := readBuffers(2, headroom+64)
	bufs[1] = bufs[1][:headroom]
	if n, err := e.dev.Read(bufs, sizes, headroom); n != 0 || !errors.Is(err, tap.ErrBadOffset) {
		t.Errorf("Read with a full buffer = %d, %v; want 0, ErrBadOffset", n, err)
	}
	if n, err := e.dev.Read(bufs[:1], sizes[:0], headroom); n != 0 || err == nil {
		t.Errorf("Read with short sizes = %d, %v; want 0, error", n, err)
	}
	if n, err := e.dev.Read(bufs[:1], sizes, headroom); n != 1 || err != nil {
		t.Errorf("Read after bad calls = %d, %v; want 1, nil (frame kept)", n, err)
	}
	w := [][]byte{withHeadroom(testFrame(1, 60)), make([]byte, headroom), withHeadroom(testFrame(3, 60))}
	if n, err := e.dev.Write(w, headroom); n != 1 || !errors.Is(err, tap.ErrBadOffset) {
		t.Errorf("Write with empty frame 1 = %d, %v; want 1, ErrBadOffset", n, err)
	}
}

func TestLinuxCloseUnblocksRead(t *testing.T) {
	e := newTapEnv(t, "weftc0")
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := readBuffers(4, 2048)
		_, err := e.dev.Read(bufs, sizes, 0)
		errc <- err
	}()
	// Close must wake a Read that waits in the poller, not only fail one
	// that comes after it.
	poll.Until(t, 5*time.Second, "Read to wait in the poller", poll.Parked("IO wait", "tap.(*Linux).Read"))
	if err := e.dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending Read after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5s after Close")
	}
	bufs, sizes := readBuffers(1, 2048)
	if _, err := e.dev.Read(bufs, sizes, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v; want net.ErrClosed", err)
	}
	if _, err := e.dev.Write([][]byte{testFrame(1, 60)}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v; want net.ErrClosed", err)
	}
	if err := e.dev.Close(); err != nil {
		t.Errorf("second Close: %v; want nil", err)
	}
}

func TestLinuxReadWriteAllocs(t *testing.T) {
	e := newTapEnv(t, "wefta0")
	const batch = 8
	out := make([][]byte, batch)
	for i := range out {
		out[i] = withHeadroom(testFrame(i, 200))
	}
	in, sizes := readBuffers(batch, headroom+2048)
	frame := testFrame(9, 200)
	allocs := testing.AllocsPerRun(20, func() {
		if n, err := e.dev.Write(out, headroom); n != batch || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		for range batch {
			unix.Write(e.tx, frame)
		}
		for got := 0; got < batch; {
			n, err := e.dev.Read(in[got:], sizes[got:], headroom)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("Write+Read of %d frames: %v allocs; want 0", batch, allocs)
	}
}
