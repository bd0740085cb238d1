package poll

import (
	"runtime"
	"strings"
)

// Parked returns a condition that holds while some goroutine is parked for
// reason, as a goroutine dump names it ("IO wait", "select", "chan
// receive"), with fn on its stack. fn is a function as the dump names it,
// with or without its package's path: "encap.(*UDPConn).ReadBatch".
//
// A test waits on it to know that a goroutine has reached a blocking call,
// for example a Read that Close must then wake, where a sleep would only
// make that likely.
func Parked(reason, fn string) func() bool {
	return func() bool {
		for _, g := range strings.Split(goroutines(), "\n\n") {
			header, frames, _ := strings.Cut(g, "\n")
			if parkedFor(header) == reason && calls(frames, fn) {
				return true
			}
		}
		return false
	}
}

// goroutines returns a dump of every goroutine's stack.
func goroutines() string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// parkedFor returns the reason in a dump's goroutine header, "goroutine 7
// [IO wait, 2 minutes]:", without what follows it: "IO wait".
func parkedFor(header string) string {
	_, state, _ := strings.Cut(header, "[")
	state, _, _ = strings.Cut(state, "]")
	state, _, _ = strings.Cut(state, ",")
	return state
}

// calls reports whether a dump's frames, a function's line then its file's
// line for each call, name fn: "github.com/weftnet/weft/encap.(*UDPConn).ReadBatch(0xc000010000, ...)".
func calls(frames, fn string) bool {
	for line := range strings.SplitSeq(frames, "\n") {
		i := strings.LastIndex(line, "(")
		if i < 0 || strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "created by ") {
			continue
		}
		if name := line[:i]; name == fn || strings.HasSuffix(name, "/"+fn) {
			return true
		}
	}
	return false
}
