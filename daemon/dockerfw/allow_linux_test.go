package dockerfw

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"github.com/weftnet/weft/internal/nstest"
)

// inScratchNetns runs f on a thread in a network namespace of the test's
// own, made with Docker's chains as iptables-nft makes them; the
// namespace goes when the test ends.
func inScratchNetns(t *testing.T, f func(name string)) {
	t.Helper()
	name := nstest.ScratchNetns(t, "weft-dockerfw")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // this thread must not run on in the scratch namespace
		}
	}()
	f(name)
}

// iptables runs iptables-nft in namespace ns.
func iptables(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "iptables-nft"}, args...)...).CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) && os.Getenv("WEFT_REQUIRE_ROOT_TESTS") != "1" {
			t.Skip("no iptables-nft")
		}
		t.Fatalf("iptables-nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSyncAsIptablesReadsIt checks that weft's rules in DOCKER-USER read
// back in iptables' own words, follow the networks with a way out, leave
// Docker's and the user's rules alone, and are never doubled.
func TestSyncAsIptablesReadsIt(t *testing.T) {
	inScratchNetns(t, func(ns string) {
		if _, err := Sync(nil); !errors.Is(err, ErrNoChain) {
			t.Errorf("Sync with no %s = %v; want ErrNoChain", Chain, err)
		}
		iptables(t, ns, "-N", Chain)
		iptables(t, ns, "-A", Chain, "-s", "198.19.99.0/24", "-j", "DROP")
		iptables(t, ns, "-A", Chain, "-j", "RETURN")
		user := []string{"-A DOCKER-USER -s 198.19.99.0/24 -j DROP", "-A DOCKER-USER -j RETURN"}
		bridged := "-A DOCKER-USER -i wbr+ -o wbr+ -j ACCEPT"
		out := func(b string) []string {
			return []string{"-A DOCKER-USER -i " + b + " -j ACCEPT", "-A DOCKER-USER -o " + b + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"}
		}
		for _, step := range []struct {
			bridges []string
			changed bool
			want    []string
		}{
			{[]string{"wbr7", "wbr8"}, true, slices.Concat([]string{bridged}, out("wbr7"), out("wbr8"), user)},
			{[]string{"wbr8", "wbr7"}, false, slices.Concat([]string{bridged}, out("wbr7"), out("wbr8"), user)},
			{[]string{"wbr8"}, true, slices.Concat([]string{bridged}, out("wbr8"), user)},
			{nil, true, slices.Concat([]string{bridged}, user)},
			{nil, false, slices.Concat([]string{bridged}, user)},
		} {
			changed, err := Sync(step.bridges)
			if err != nil {
				t.Fatalf("Sync(%v): %v", step.bridges, err)
			}
			if changed != step.changed {
				t.Errorf("Sync(%v) changed = %v; want %v", step.bridges, changed, step.changed)
			}
			var got []string
			for l := range strings.Lines(iptables(t, ns, "-S", Chain)) {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "-A ") {
					got = append(got, l)
				}
			}
			if !slices.Equal(got, step.want) {
				t.Errorf("after Sync(%v), iptables -S %s:\n%s\nwant:\n%s", step.bridges, Chain, strings.Join(got, "\n"), strings.Join(step.want, "\n"))
			}
		}
		// A rule added by hand as iptables writes it is recognised, not doubled.
		iptables(t, ns, "-I", Chain, "-o", "wbr9", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
		iptables(t, ns, "-I", Chain, "-i", "wbr9", "-j", "ACCEPT")
		if changed, err := Sync([]string{"wbr9"}); err != nil || changed {
			t.Errorf("Sync(wbr9) after iptables added its rules = %v, %v; want no change", changed, err)
		}
	})
}
