//go:build !linux

package tap

import (
	"fmt"
	"runtime"
)

var _ Device = (*Linux)(nil)

// Linux is the batched TAP device of Linux. On this GOOS it cannot be opened;
// use OpenWater instead.
type Linux struct{}

// errUnsupported says that the batched TAP device needs Linux.
var errUnsupported = fmt.Errorf("tap: batched TAP device not supported on %s; use OpenWater", runtime.GOOS)

// Open returns an error: the batched TAP device needs Linux.
func Open(name string, opts ...Option) (*Linux, error) {
	return nil, fmt.Errorf("tap %s: %w", name, errUnsupported)
}

// OpenQueues returns an error: multi-queue TAP devices need Linux.
func OpenQueues(name string, n int, opts ...Option) ([]*Linux, error) {
	return nil, fmt.Errorf("tap %s: %w", name, errUnsupported)
}

// Read returns an error; no Linux can be opened on this GOOS.
func (d *Linux) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	return 0, errUnsupported
}

// Write returns an error; no Linux can be opened on this GOOS.
func (d *Linux) Write(bufs [][]byte, offset int) (int, error) {
	return 0, errUnsupported
}

// BatchSize is 1.
func (d *Linux) BatchSize() int { return 1 }

// Name is empty.
func (d *Linux) Name() string { return "" }

// Close does nothing.
func (d *Linux) Close() error { return nil }

// Offloaded is false.
func (d *Linux) Offloaded() bool { return false }
