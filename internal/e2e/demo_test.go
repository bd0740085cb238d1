//go:build linux

package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// The demo that `make demo` runs works and leaves nothing behind (must-show 7).
func TestDemo(t *testing.T) {
	requireRoot(t)
	const prefix = "we2e-demo"
	t.Cleanup(func() { nstest.RemoveStale(prefix) })
	cmd := exec.Command("go", "run", "github.com/weftnet/weft/internal/demo", "-bin", binDir, "-prefix", prefix)
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), " 0% packet loss"); got != 3 {
		t.Errorf("demo showed %d clean pings; want 3\n%s", got, out)
	}
	if ns, _ := nstest.IP("netns", "list"); strings.Contains(ns, prefix+"-") {
		t.Errorf("demo left namespaces behind:\n%s", ns)
	}
}
