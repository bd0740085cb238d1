package gossip

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if agents leave goroutines behind after their
// tests cleaned them up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
