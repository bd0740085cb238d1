//go:build linux

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// The README's quick start on one machine works as written (issue 7,
// must-show 5): the shell block between the quickstart markers is run
// as it stands, from a directory whose bin/ holds this run's binaries.
func TestReadmeQuickStart(t *testing.T) {
	requireRoot(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := quickStart(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(binDir, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanQuickStart)
	cleanQuickStart() // a run that was killed may have left its namespaces

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		for _, h := range []string{"host1", "host2"} {
			if b, rerr := os.ReadFile(filepath.Join(quickStartDir, h, "weftd.log")); rerr == nil {
				t.Logf("weftd on %s:\n%s", h, tail(string(b), 20))
			}
		}
		t.Fatalf("the README's quick start failed: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "2 received"); n != 2 {
		t.Errorf("want both pings to get 2 replies; output:\n%s", out)
	}
}

// quickStartDir is where the README's quick start keeps its daemons' files.
const quickStartDir = "/tmp/weft-qs"

// quickStart returns the shell block between the README's quickstart
// markers.
func quickStart(readme string) (string, error) {
	_, rest, ok := strings.Cut(readme, "<!-- quickstart:begin -->")
	if !ok {
		return "", errors.New("README has no <!-- quickstart:begin --> marker")
	}
	block, _, ok := strings.Cut(rest, "<!-- quickstart:end -->")
	if !ok {
		return "", errors.New("README has no <!-- quickstart:end --> marker")
	}
	_, code, ok := strings.Cut(block, "```sh\n")
	if !ok {
		return "", errors.New("no ```sh block between the quickstart markers")
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok {
		return "", errors.New("unterminated ```sh block between the quickstart markers")
	}
	return code, nil
}

// cleanQuickStart stops the quick start's daemons and removes its
// namespaces and files, as the README's clean-up lines do.
func cleanQuickStart() {
	files, _ := filepath.Glob(filepath.Join(quickStartDir, "host*", "pid"))
	var pids []int
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			pid := strings.TrimSpace(string(b))
			_, _ = nstest.Run("kill", pid)
			if n, err := strconv.Atoi(pid); err == nil {
				pids = append(pids, n)
			}
		}
	}
	// The namespaces go once the daemons have exited.
	poll.Wait(5*time.Second, func() bool { return !slices.ContainsFunc(pids, nstest.Running) })
	for _, ns := range []string{"alpine1", "alpine2", "qs-host1", "qs-host2"} {
		_, _ = nstest.IP("netns", "del", ns)
		_ = os.RemoveAll(filepath.Join("/etc/netns", ns))
	}
	_ = os.RemoveAll(quickStartDir)
}
