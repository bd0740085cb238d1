// Package poll waits for conditions in tests and tools, checking them until a deadline.
package poll

import "time"

// A condition is checked at once, then after firstPause, and then after
// pauses that double up to maxPause: a condition that holds soon is seen
// soon, and one that takes seconds (often one that runs a command) is
// checked some twenty times a second, not thousands. It is checked a last
// time at the deadline.
const (
	firstPause = time.Millisecond
	maxPause   = 50 * time.Millisecond
)

// TB is the part of testing.TB that Until uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Until waits until cond holds and returns how long that took. If cond
// does not hold within timeout, Until fails tb with "timed out after
// TIMEOUT waiting for WHAT". Like tb.Fatalf, it must be called from the
// test's goroutine.
func Until(tb TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	took, ok := wait(timeout, cond)
	if !ok {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
	return took
}

// Wait waits until cond holds or timeout passes, and reports whether cond
// held. It is for code that is not a test, and for tests that say more
// than Until does when the wait fails.
func Wait(timeout time.Duration, cond func() bool) bool {
	_, ok := wait(timeout, cond)
	return ok
}

// wait checks cond as firstPause says, and returns how long it
// waited and whether cond held.
func wait(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := start.Add(timeout)
	for pause := firstPause; ; pause = min(2*pause, maxPause) {
		if cond() {
			return time.Since(start), true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return time.Since(start), false
		}
		time.Sleep(min(pause, left))
	}
}
