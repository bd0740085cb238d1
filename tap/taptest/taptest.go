// Package taptest provides an in-memory tap.Device for tests, in the manner
// of httptest: the test plays the kernel, injecting frames for weftd to Read
// and collecting the frames weftd Writes.
package taptest

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/weftnet/weft/tap"
)

var _ tap.Device = (*Device)(nil)

// errShortSizes is returned when sizes cannot hold a size for every buffer.
var errShortSizes = errors.New("taptest: len(sizes) < len(bufs)")

// Device is an in-memory TAP device. All methods are safe for concurrent use.
// Read copies frames into the caller's buffers without allocating; Write and
// Inject copy every frame.
type Device struct {
	name  string
	batch int

	mu      sync.Mutex
	in      fifo          // frames Inject queued for Read
	out     fifo          // frames Write queued for Next
	inReady chan struct{} // holds a token while in may be non-empty
	outRdy  chan struct{} // holds a token while out may be non-empty
	done    chan struct{} // closed by Close
	once    sync.Once
}

// New returns an open Device called name whose Read returns at most batch
// frames per call. A batch below 1 means 1.
func New(name string, batch int) *Device {
	return &Device{
		name:    name,
		batch:   max(batch, 1),
		inReady: make(chan struct{}, 1),
		outRdy:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// Name is the name given to New.
func (d *Device) Name() string { return d.name }

// BatchSize is the batch given to New.
func (d *Device) BatchSize() int { return d.batch }

// Close unblocks pending Reads and makes Read and Write fail with an error
// matching net.ErrClosed. Frames already written stay available to Next.
// Calling it more than once is safe.
func (d *Device) Close() error {
	d.once.Do(func() { close(d.done) })
	return nil
}

// isClosed reports whether Close has been called.
func (d *Device) isClosed() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// closedErr is the error Read and Write return after Close.
func (d *Device) closedErr(op string) error {
	return fmt.Errorf("taptest %s: %s: %w", d.name, op, net.ErrClosed)
}

// signal leaves a token in ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
