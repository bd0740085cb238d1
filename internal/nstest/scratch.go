//go:build linux

package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// ScratchNetns makes a network namespace of the test's own, named after
// prefix and the process, and removes it when the test ends. It skips
// under -short or without root, and fails without root where root tests
// must run (WEFT_REQUIRE_ROOT_TESTS=1).
func ScratchNetns(t testing.TB, prefix string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a scratch network namespace")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("WEFT_REQUIRE_ROOT_TESTS") == "1" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	name := fmt.Sprintf("%s-%d", prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name
}
