package resolver

import (
	"testing"
	"time"

	"github.com/weftnet/weft/internal/leakcheck"
)

// TestMain fails the run if the tests leave goroutines behind after
// closing everything they started.
func TestMain(m *testing.M) { leakcheck.Main(m, 5*time.Second) }
