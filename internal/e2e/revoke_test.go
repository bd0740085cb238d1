package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// TestRemovedNodeIsRevoked: a worker removed with `weft node rm --force`
// while its weftd runs, with its certificate and gossip keys, can no
// longer make any 2377 call, and its gossip, which goes on (its records
// included), changes nothing on the others: once the keys it holds are
// retired, they withdraw its container and keep it withdrawn.
func TestRemovedNodeIsRevoked(t *testing.T) {
	lab := newLab(t, "we2e-revoke")
	hosts := newCluster(t, lab, 3)
	h1, h2, x := hosts[0], hosts[1], hosts[2]
	cli(t, h1, "network", "create", "--attachable", "rv")
	c1 := container(t, h1, "v1", "rv", "")
	container(t, h2, "v2", "rv", "")
	container(t, x, "vx", "rv", "")
	xip := inspectContainers(t, x, "rv")[0]
	ping(t, c1, xip)
	xVTEP := x.IP.String() + ":4789"
	if !slices.Contains(networkPeers(t, h1, "rv"), xVTEP) {
		t.Fatalf("h1's peers on rv lack %s before the removal", xVTEP)
	}

	cli(t, h1, "node", "rm", "--force", diagInspect(t, x, "self").ID)

	withdrawn := func() bool {
		for _, h := range []*nstest.Weftd{h1, h2} {
			if slices.Contains(networkPeers(t, h, "rv"), xVTEP) {
				return false
			}
		}
		return true
	}
	ns, err := lab.Container("vx2")
	if err != nil {
		t.Fatal(err)
	}
	took := poll.Until(t, 60*time.Second, "h1 and h2 to withdraw the removed node's container", withdrawn)
	t.Logf("the removed node's container withdrawn everywhere %v after node rm", took.Round(time.Second))
	for _, args := range [][]string{
		{"network", "ls"},
		{"node", "ls"},
		{"network", "create", "--attachable", "forged"},
		{"attach", "--network", "rv", "--name", "vx2", ns},
	} {
		if out, err := x.CLI(args...); err == nil {
			t.Errorf("weft %v on the removed node: got %s; want the managers to refuse it", args, out)
		}
	}
	// The removed weftd goes on gossiping its records, now with keys
	// nobody holds: for ten of its gossip rounds' worth of seconds, nothing
	// of it comes back.
	for range 10 {
		if !withdrawn() {
			t.Fatal("the removed node's container came back on h1 or h2")
		}
		time.Sleep(time.Second) // observing that nothing happens, over a bounded time
	}
	if !x.Running() {
		t.Error("the removed node's weftd stopped; the test needs it running")
	}
}

// networkPeers returns the VTEPs d programs for a network.
func networkPeers(t *testing.T, d *nstest.Weftd, network string) []string {
	t.Helper()
	var ns []struct{ Peers []string }
	diagJSON(t, cli(t, d, "network", "inspect", network), &ns)
	if len(ns) != 1 {
		t.Fatalf("network inspect %s on %s: %d networks", network, d.Name, len(ns))
	}
	return ns[0].Peers
}
