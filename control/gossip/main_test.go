package gossip

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakWait bounds how long TestMain waits for goroutines to end. A probe
// that memberlist had in flight at Shutdown ends only when its ack timer
// fires, up to a ProbeInterval later, which is longer than goleak's own
// retries allow.
const leakWait = 10 * time.Second

// TestMain fails the run if agents leave goroutines behind after their
// tests cleaned them up.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(leakWait)
		err := goleak.Find()
		for err != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			err = goleak.Find()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines still running %v after the last test: %v\n", leakWait, err)
			code = 1
		}
	}
	os.Exit(code)
}
