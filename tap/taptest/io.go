package taptest

import (
	"fmt"
	"time"

	"github.com/weftnet/weft/tap"
)

// Read returns the injected frames, oldest first, up to min(len(bufs),
// BatchSize()) of them, blocking until there is at least one. See tap.Device.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if err := checkRead(bufs, sizes, offset); err != nil {
		return 0, fmt.Errorf("taptest %s: read: %w", d.name, err)
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		if d.isClosed() {
			return 0, d.closedErr("read")
		}
		if n := d.take(bufs[:min(len(bufs), d.batch)], sizes, offset); n > 0 {
			return n, nil
		}
		select {
		case <-d.inReady:
		case <-d.done:
		}
	}
}

// take moves queued frames into bufs and returns how many it moved.
func (d *Device) take(bufs [][]byte, sizes []int, offset int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(len(bufs), d.in.len())
	for i := range n {
		sizes[i] = copy(bufs[i][offset:], d.in.peek(i))
	}
	d.in.drop(n)
	if d.in.len() > 0 {
		signal(d.inReady) // more for another reader
	}
	return n
}

// Write records copies of the frames bufs[i][offset:] for Next. See
// tap.Device.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if d.isClosed() {
		return 0, d.closedErr("write")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, b := range bufs {
		if offset < 0 || offset >= len(b) {
			return i, fmt.Errorf("taptest %s: write: %w", d.name, tap.ErrBadOffset)
		}
		d.out.push(clone(b[offset:]))
		signal(d.outRdy)
	}
	return len(bufs), nil
}

// Inject queues copies of frames, in order, for Read; frames injected by one
// call can come back from one Read. Frames injected after Close are dropped.
func (d *Device) Inject(frames ...[]byte) {
	if d.isClosed() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range frames {
		d.in.push(clone(f))
	}
	signal(d.inReady)
}

// Next returns the oldest frame written and not yet returned, waiting up to
// timeout for one. It returns false on timeout, or at once when the Device
// is closed and no written frame is left.
func (d *Device) Next(timeout time.Duration) ([]byte, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if f, ok := d.pop(); ok {
			return f, true
		}
		if d.isClosed() {
			return nil, false
		}
		select {
		case <-d.outRdy:
		case <-d.done:
		case <-timer.C:
			return d.pop()
		}
	}
}

// pop removes and returns the oldest written frame.
func (d *Device) pop() ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.out.len() == 0 {
		return nil, false
	}
	f := d.out.peek(0)
	d.out.drop(1)
	if d.out.len() > 0 {
		signal(d.outRdy)
	}
	return f, true
}

// checkRead validates Read's arguments as tap.Device requires.
func checkRead(bufs [][]byte, sizes []int, offset int) error {
	if len(sizes) < len(bufs) {
		return errShortSizes
	}
	for _, b := range bufs {
		if offset < 0 || offset >= len(b) {
			return tap.ErrBadOffset
		}
	}
	return nil
}

// clone returns a copy of b that shares no memory with it.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
