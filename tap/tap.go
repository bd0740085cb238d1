// Package tap moves Ethernet frames between weftd and the kernel through TAP
// devices, many frames per call.
package tap

import "errors"

// Device is a TAP device that moves whole Ethernet frames (no packet
// information header) in batches.
//
// The caller owns every buffer: a Device never retains a slice after a call
// returns. Offsets leave headroom in front of each frame so that the caller can
// write outer headers in place without copying.
type Device interface {
	// Read reads up to len(bufs) frames. Frame i is written to bufs[i][offset:]
	// and its length stored in sizes[i]; len(sizes) must be at least len(bufs).
	// Read blocks until at least one frame is available and returns the number
	// of frames read. A frame longer than len(bufs[i])-offset is truncated and
	// its size reported as len(bufs[i])-offset. With no bufs it returns 0 at
	// once. If any buffer has no room at offset it returns ErrBadOffset and
	// consumes no frame. After Close it returns an error matching
	// net.ErrClosed.
	Read(bufs [][]byte, sizes []int, offset int) (int, error)

	// Write writes the frames bufs[i][offset:] in order and returns how many
	// were written. A count short of len(bufs) comes with a non-nil error that
	// concerns frame n; frames after it were not attempted. After Close it
	// returns an error matching net.ErrClosed.
	Write(bufs [][]byte, offset int) (int, error)

	// BatchSize is the largest number of frames one Read can return, a hint for
	// sizing bufs.
	BatchSize() int

	// Name is the kernel's name of the interface.
	Name() string

	// Close releases the device and unblocks a pending Read. Calling it more
	// than once is safe.
	Close() error
}

// ErrBadOffset is returned when an offset leaves no room for a frame.
var ErrBadOffset = errors.New("tap: offset leaves no room in buffer")
