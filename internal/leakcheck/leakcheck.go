// Package leakcheck fails a test binary whose tests leave goroutines
// running after they cleaned up.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
	"go.uber.org/goleak"
)

// Main runs the tests and exits with their status, or with failure if they
// passed but goroutines other than the test binary's own were still running
// wait after the last test ended. Call it from TestMain.
func Main(m *testing.M, wait time.Duration) {
	code := m.Run()
	if code == 0 {
		var err error
		if !poll.Wait(wait, func() bool { err = goleak.Find(); return err == nil }) {
			fmt.Fprintf(os.Stderr, "goleak: goroutines still running %v after the last test: %v\n", wait, err)
			code = 1
		}
	}
	os.Exit(code)
}
