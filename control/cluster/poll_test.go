package cluster

import (
	"testing"
	"time"
)

// until waits until cond holds, checking it at once and then at pauses
// that double from 1 ms up to 50 ms, and fails t with "timed out after
// TIMEOUT waiting for WHAT" if it does not hold within timeout. It returns
// how long it waited. A local stand-in for the shared internal/poll.Until,
// which is not in this tree yet.
func until(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if cond() {
			return time.Since(start)
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(min(pause, left))
	}
}
