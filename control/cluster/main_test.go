package cluster

import (
	"testing"
	"time"

	"github.com/weftnet/weft/internal/leakcheck"
)

// TestMain fails the package's tests if a node, manager or client leaves
// a goroutine running after its test cleaned up.
func TestMain(m *testing.M) { leakcheck.Main(m, 10*time.Second) }
