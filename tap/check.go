package tap

import "errors"

// errShortSizes is returned when sizes cannot hold a size for every buffer.
var errShortSizes = errors.New("tap: len(sizes) < len(bufs)")

// checkRead validates the arguments of a Read before any frame is consumed,
// so that a bad call never loses a frame.
func checkRead(bufs [][]byte, sizes []int, offset int) error {
	if len(sizes) < len(bufs) {
		return errShortSizes
	}
	for _, b := range bufs {
		if !roomAt(b, offset) {
			return ErrBadOffset
		}
	}
	return nil
}

// roomAt reports whether b holds at least one byte at offset.
func roomAt(b []byte, offset int) bool {
	return offset >= 0 && offset < len(b)
}

// clampSize is the size Read reports when a read into a buffer of room bytes
// returned n: never more than fits, whatever a driver says of a truncated
// frame.
func clampSize(n, room int) int {
	return min(n, room)
}
