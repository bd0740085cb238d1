package gossip

import (
	"testing"
	"time"

	"github.com/weftnet/weft/internal/leakcheck"
)

// TestMain fails the run if agents leave goroutines behind after their
// tests cleaned them up. The wait is long: a probe that memberlist had in
// flight at Shutdown ends only when its ack timer fires, up to a
// ProbeInterval later, which is longer than goleak's own retries allow.
func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }
