package taptest_test

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/tap"
	"github.com/weftnet/weft/tap/taptest"
)

// frame returns a distinct test frame of n bytes.
func frame(id byte, n int) []byte {
	return bytes.Repeat([]byte{id}, n)
}

// buffers returns n buffers of size bytes each and room for their sizes.
func buffers(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

// readTimeout runs d.Read and fails the test if it does not return in time.
func readTimeout(t *testing.T, d tap.Device, bufs [][]byte, sizes []int, offset int) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := d.Read(bufs, sizes, offset)
		ch <- result{n, err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-time.After(5 * time.Second):
		d.Close()
		t.Fatal("Read did not return within 5s")
		return 0, nil
	}
}

func TestReadBatch(t *testing.T) {
	tests := []struct {
		name     string
		batch    int // device batch size
		bufs     int // buffers passed to Read
		injected int
		want     int
	}{
		{"all fit", 8, 8, 5, 5},
		{"capped by bufs", 8, 3, 5, 3},
		{"capped by batch", 2, 8, 5, 2},
		{"batch below one means one", 0, 8, 5, 1},
		{"single", 8, 8, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := taptest.New("t0", tt.batch)
			defer d.Close()
			for i := range tt.injected {
				d.Inject(frame(byte(i), 60+i))
			}
			bufs, sizes := buffers(tt.bufs, 128)
			n, err := readTimeout(t, d, bufs, sizes, 0)
			if err != nil || n != tt.want {
				t.Fatalf("Read = %d, %v; want %d, nil", n, err, tt.want)
			}
			for i := range n {
				if want := frame(byte(i), 60+i); !bytes.Equal(bufs[i][:sizes[i]], want) {
					t.Errorf("frame %d = %x; want %x", i, bufs[i][:sizes[i]], want)
				}
			}
		})
	}
}

func TestReadRemainderInOrder(t *testing.T) {
	d := taptest.New("t0", 2)
	defer d.Close()
	d.Inject(frame(0, 60), frame(1, 60), frame(2, 60))
	bufs, sizes := buffers(4, 64)
	var got []byte
	for len(got) < 3 {
		n, err := readTimeout(t, d, bufs, sizes, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for i := range n {
			got = append(got, bufs[i][0])
		}
	}
	if want := []byte{0, 1, 2}; !bytes.Equal(got, want) {
		t.Fatalf("frame order = %v; want %v", got, want)
	}
}

func TestReadOffsetAndTruncation(t *testing.T) {
	tests := []struct {
		name      string
		bufLen    int
		offset    int
		frameLen  int
		wantSize  int
		wantError error
	}{
		{"headroom", 128, 50, 60, 60, nil},
		{"exact fit", 110, 50, 60, 60, nil},
		{"truncated", 100, 50, 60, 50, nil},
		{"offset at end", 50, 50, 60, 0, tap.ErrBadOffset},
		{"negative offset", 50, -1, 60, 0, tap.ErrBadOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := taptest.New("t0", 4)
			defer d.Close()
			d.Inject(frame(7, tt.frameLen))
			bufs, sizes := buffers(1, tt.bufLen)
			n, err := readTimeout(t, d, bufs, sizes, tt.offset)
			if tt.wantError != nil {
				if n != 0 || !errors.Is(err, tt.wantError) {
					t.Fatalf("Read = %d, %v; want 0, %v", n, err, tt.wantError)
				}
				return
			}
			if err != nil || n != 1 || sizes[0] != tt.wantSize {
				t.Fatalf("Read = %d, %v, size %d; want 1, nil, size %d", n, err, sizes[0], tt.wantSize)
			}
			if want := frame(7, tt.wantSize); !bytes.Equal(bufs[0][tt.offset:tt.offset+sizes[0]], want) {
				t.Errorf("frame = %x; want %x", bufs[0][tt.offset:tt.offset+sizes[0]], want)
			}
			if bytes.ContainsFunc(bufs[0][:tt.offset], func(r rune) bool { return r != 0 }) {
				t.Errorf("headroom written: %x", bufs[0][:tt.offset])
			}
		})
	}
}

func TestReadShortSizes(t *testing.T) {
	d := taptest.New("t0", 4)
	defer d.Close()
	d.Inject(frame(1, 60))
	bufs, _ := buffers(2, 64)
	if n, err := d.Read(bufs, make([]int, 1), 0); n != 0 || err == nil {
		t.Fatalf("Read with short sizes = %d, %v; want 0, error", n, err)
	}
	if n, err := readTimeout(t, d, bufs, make([]int, 2), 0); n != 1 || err != nil {
		t.Fatalf("Read after bad call = %d, %v; want 1, nil (frame kept)", n, err)
	}
}

func TestInjectCopies(t *testing.T) {
	d := taptest.New("t0", 4)
	defer d.Close()
	f := frame(1, 60)
	d.Inject(f)
	f[0] = 9
	bufs, sizes := buffers(1, 64)
	if _, err := readTimeout(t, d, bufs, sizes, 0); err != nil {
		t.Fatal(err)
	}
	if got := bufs[0][0]; got != 1 {
		t.Fatalf("first byte = %d; want 1 (Inject must copy)", got)
	}
}

func TestWrite(t *testing.T) {
	d := taptest.New("t0", 4)
	defer d.Close()
	const off = 16
	bufs := [][]byte{
		append(make([]byte, off), frame(1, 60)...),
		append(make([]byte, off), frame(2, 70)...),
	}
	if n, err := d.Write(bufs, off); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v; want 2, nil", n, err)
	}
	bufs[0][off] = 9 // Write must have copied
	for i, want := range [][]byte{frame(1, 60), frame(2, 70)} {
		got, ok := d.Next(time.Second)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("Next #%d = %x, %v; want %x, true", i, got, ok, want)
		}
	}
	if got, ok := d.Next(10 * time.Millisecond); ok {
		t.Fatalf("Next with nothing written = %x, true; want false", got)
	}
}

func TestWriteBadOffset(t *testing.T) {
	d := taptest.New("t0", 4)
	defer d.Close()
	bufs := [][]byte{frame(1, 60), frame(2, 10), frame(3, 60)}
	n, err := d.Write(bufs, 20)
	if n != 1 || !errors.Is(err, tap.ErrBadOffset) {
		t.Fatalf("Write = %d, %v; want 1, ErrBadOffset", n, err)
	}
}

func TestNextWaits(t *testing.T) {
	d := taptest.New("t0", 4)
	defer d.Close()
	type result struct {
		f  []byte
		ok bool
	}
	next := make(chan result, 1)
	go func() {
		f, ok := d.Next(5 * time.Second)
		next <- result{f, ok}
	}()
	poll.Until(t, 5*time.Second, "Next to wait", poll.Parked("select", "taptest.(*Device).Next"))
	d.Write([][]byte{frame(5, 60)}, 0)
	if got := <-next; !got.ok || got.f[0] != 5 {
		t.Fatalf("Next = %x, %v; want frame 5, true", got.f, got.ok)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	d := taptest.New("t0", 4)
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := buffers(4, 64)
		_, err := d.Read(bufs, sizes, 0)
		errc <- err
	}()
	poll.Until(t, 5*time.Second, "Read to wait", poll.Parked("select", "taptest.(*Device).Read"))
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5s after Close")
	}
}

func TestClosed(t *testing.T) {
	d := taptest.New("t0", 4)
	d.Write([][]byte{frame(1, 60)}, 0)
	d.Inject(frame(2, 60))
	for range 2 {
		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v; want nil", err)
		}
	}
	bufs, sizes := buffers(1, 64)
	if _, err := d.Read(bufs, sizes, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read: %v; want net.ErrClosed", err)
	}
	if _, err := d.Write(bufs, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write: %v; want net.ErrClosed", err)
	}
	if got, ok := d.Next(time.Second); !ok || got[0] != 1 {
		t.Errorf("Next = %x, %v; want frame written before Close", got, ok)
	}
	start := time.Now()
	if _, ok := d.Next(5 * time.Second); ok || time.Since(start) > time.Second {
		t.Errorf("Next on closed, drained device: ok=%v after %v; want false at once", ok, time.Since(start))
	}
}

func TestConcurrent(t *testing.T) {
	const frames = 1000
	d := taptest.New("t0", 8)
	defer d.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range frames {
			d.Inject(frame(byte(i), 60))
		}
	})
	got := 0
	bufs, sizes := buffers(8, 64)
	deadline := time.Now().Add(10 * time.Second)
	for got < frames && time.Now().Before(deadline) {
		n, err := readTimeout(t, d, bufs, sizes, 0)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	wg.Wait()
	if got != frames {
		t.Fatalf("read %d frames; want %d", got, frames)
	}
}

func TestReadAllocs(t *testing.T) {
	d := taptest.New("t0", 8)
	defer d.Close()
	bufs, sizes := buffers(8, 64)
	f := frame(1, 60)
	allocs := testing.AllocsPerRun(100, func() {
		d.Inject(f)
		d.Read(bufs, sizes, 0)
	})
	// Inject copies the frame (one allocation); Read itself allocates nothing.
	if allocs > 1 {
		t.Fatalf("Inject+Read allocs = %v; want <= 1", allocs)
	}
}

func TestNeverDrainedQueueKeepsOrder(t *testing.T) {
	d := taptest.New("t0", 1)
	defer d.Close()
	bufs, sizes := buffers(1, 64)
	next := 0
	for i := range 200 {
		d.Inject(frame(byte(i), 60), frame(byte(i), 61))
		n, err := readTimeout(t, d, bufs, sizes, 0)
		if err != nil || n != 1 {
			t.Fatalf("Read = %d, %v; want 1, nil", n, err)
		}
		if want := byte(next / 2); bufs[0][0] != want || sizes[0] != 60+next%2 {
			t.Fatalf("read #%d = frame %d size %d; want frame %d size %d", next, bufs[0][0], sizes[0], want, 60+next%2)
		}
		next++
	}
}
