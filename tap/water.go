package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/songgao/water"
)

var _ Device = (*Water)(nil)

// Water is a TAP device opened through github.com/songgao/water, the portable
// path for systems other than Linux. It moves one frame per system call.
type Water struct {
	ifce      *water.Interface
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// OpenWater opens the TAP interface called name through water. Naming rules
// are the platform's: macOS wants "tapN", Windows takes the adapter's name.
func OpenWater(name string) (*Water, error) {
	cfg := water.Config{DeviceType: water.TAP}
	setWaterName(&cfg, name)
	ifce, err := water.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("tap %s: open: %w", name, err)
	}
	return &Water{ifce: ifce}, nil
}

// Read reads one frame into bufs[0][offset:]. See Device.Read for the contract.
func (w *Water) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if err := checkRead(bufs, sizes, offset); err != nil {
		return 0, w.wrap("read", err)
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	b := bufs[0][offset:]
	n, err := w.ifce.Read(b)
	if err != nil {
		return 0, w.wrap("read", err)
	}
	sizes[0] = clampSize(n, len(b))
	return 1, nil
}

// Write writes the frames bufs[i][offset:] one system call each. See
// Device.Write for the contract.
func (w *Water) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if !roomAt(b, offset) {
			return i, w.wrap("write", ErrBadOffset)
		}
		if _, err := w.ifce.Write(b[offset:]); err != nil {
			return i, w.wrap("write", err)
		}
	}
	return len(bufs), nil
}

// BatchSize is 1: water reads one frame per call.
func (w *Water) BatchSize() int { return 1 }

// Name is the kernel's name of the interface.
func (w *Water) Name() string { return w.ifce.Name() }

// Close releases the device and unblocks a pending Read. Calls after the first
// return the first call's result.
func (w *Water) Close() error {
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		if err := w.ifce.Close(); err != nil {
			w.closeErr = fmt.Errorf("tap %s: close: %w", w.Name(), err)
		}
	})
	return w.closeErr
}

// wrap names the device and operation in err, and turns any error after
// Close into one matching net.ErrClosed.
func (w *Water) wrap(op string, err error) error {
	if w.closed.Load() || errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	return fmt.Errorf("tap %s: %s: %w", w.Name(), op, err)
}
