package tap_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
	"github.com/weftnet/weft/tap"
)

func TestWaterReadWrite(t *testing.T) {
	n := newTestNS(t)
	var w *tap.Water
	n.do(t, func() (err error) {
		w, err = tap.OpenWater("weftwa0")
		return err
	})
	t.Cleanup(func() { w.Close() })
	watchdog(t, w, 20*time.Second)
	if w.Name() != "weftwa0" || w.BatchSize() != 1 {
		t.Fatalf("Name() = %q, BatchSize() = %d; want weftwa0, 1", w.Name(), w.BatchSize())
	}
	idx := n.up(t, w.Name())
	rx, tx := n.packetSocket(t, idx, testEtherType), n.packetSocket(t, idx, 0)

	want := [][]byte{testFrame(1, 60), testFrame(2, 200), testFrame(3, 1514)}
	out := make([][]byte, len(want))
	for i, f := range want {
		out[i] = withHeadroom(f)
	}
	if got, err := w.Write(out, headroom); got != len(out) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", got, err, len(out))
	}
	for i, got := range recvFrames(t, rx, len(want)) {
		if !bytes.Equal(got, want[i]) {
			t.Errorf("written frame %d arrived as %x; want %x", i, got, want[i])
		}
	}

	sendFrames(t, tx, want...)
	bufs, sizes := readBuffers(4, headroom+2048)
	for i := range want {
		got, err := w.Read(bufs, sizes, headroom)
		if got != 1 || err != nil {
			t.Fatalf("Read #%d = %d, %v; want 1, nil", i, got, err)
		}
		if f := bufs[0][headroom : headroom+sizes[0]]; !bytes.Equal(f, want[i]) {
			t.Errorf("Read #%d = %x; want %x", i, f, want[i])
		}
	}
}

func TestWaterCloseUnblocksRead(t *testing.T) {
	n := newTestNS(t)
	var w *tap.Water
	n.do(t, func() (err error) {
		w, err = tap.OpenWater("weftwc0")
		return err
	})
	t.Cleanup(func() { w.Close() })
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := readBuffers(1, 2048)
		_, err := w.Read(bufs, sizes, 0)
		errc <- err
	}()
	// Close must wake a Read that waits in the poller, not only fail one
	// that comes after it.
	poll.Until(t, 5*time.Second, "Read to wait in the poller", poll.Parked("IO wait", "tap.(*Water).Read"))
	if err := w.Close(); err != nil {
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
	if _, err := w.Write([][]byte{testFrame(1, 60)}, 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v; want net.ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v; want nil", err)
	}
}
