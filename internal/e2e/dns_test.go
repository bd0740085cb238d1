//go:build linux

package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// dig asks the embedded resolver inside ns and returns the status and the
// answers' data (the last field of each answer line).
func dig(t *testing.T, ns string, args ...string) (string, []string) {
	t.Helper()
	out, err := nstest.Exec(ns, append([]string{"dig", "@127.0.0.11", "+time=3", "+tries=1", "+noall", "+comments", "+answer"}, args...)...)
	if err != nil && !strings.Contains(out, "status:") {
		t.Fatalf("dig %s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	status := ""
	var answers []string
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "status: "); ok {
			status, _, _ = strings.Cut(rest, ",")
		} else if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(line, ";") {
			answers = append(answers, f[len(f)-1])
		}
	}
	return status, answers
}

// resolves reports whether name has exactly the address want, as seen from ns.
func resolves(t *testing.T, ns, name, want string) bool {
	status, answers := dig(t, ns, name, "A")
	return status == "NOERROR" && slices.Equal(answers, []string{want})
}

// The overlay tutorial, by name (must-shows 1 to 4): alpine1 and alpine2 on
// two hosts ping each other by name; dig gets A, PTR and alias records; a
// container of another network gets NXDOMAIN; names are unique per network
// but not across networks; a name stops resolving within 3 s of its detach
// or its node's death, and comes back with the node.
func TestContainersFindEachOtherByName(t *testing.T) {
	lab := newLab(t, "we2e-dns")
	hosts := newCluster(t, lab, 2)
	h1, h2 := hosts[0], hosts[1]
	cli(t, h1, "network", "create", "--attachable", "--subnet", "198.19.8.0/24", "test-net")
	cli(t, h1, "network", "create", "--attachable", "--subnet", "198.19.9.0/24", "other-net")
	alpine1 := container(t, h1, "alpine1", "test-net", "198.19.8.11")
	alpine2, err := lab.Container("alpine2")
	if err != nil {
		t.Fatal(err)
	}
	out := cli(t, h2, "attach", "--network", "test-net", "--name", "alpine2", "--alias", "db", "--ip", "198.19.8.12", alpine2)
	attached := time.Now()
	if !strings.Contains(out, "resolver 127.0.0.11") {
		t.Errorf("attach output names no resolver:\n%s", out)
	}
	if !poll.Wait(2*time.Second, func() bool { return resolves(t, alpine1, "alpine2", "198.19.8.12") }) {
		t.Fatalf("alpine2 does not resolve in alpine1")
	}
	took := time.Since(attached)
	t.Logf("alpine2 resolved on the other host %v after its attach", took.Round(10*time.Millisecond))
	if took > time.Second {
		t.Errorf("alpine2 took %v to resolve on the other host; want within 1 s", took)
	}

	t.Run("ping by name both ways", func(t *testing.T) {
		for _, p := range [][2]string{{alpine1, "alpine2"}, {alpine2, "alpine1"}} {
			if out, err := nstest.Exec(p[0], "ping", "-c", "2", "-W", "2", p[1]); err != nil {
				t.Errorf("ping -c 2 %s from %s: %v\n%s", p[1], p[0], err, out)
			}
		}
	})
	t.Run("A, PTR, alias and NAME.NETWORK", func(t *testing.T) {
		for _, name := range []string{"alpine2", "ALPINE2", "db", "alpine2.test-net", "db.test-net"} {
			if !resolves(t, alpine1, name, "198.19.8.12") {
				st, ans := dig(t, alpine1, name, "A")
				t.Errorf("%s from alpine1: %s %v; want NOERROR [198.19.8.12]", name, st, ans)
			}
		}
		if st, ans := dig(t, alpine1, "-x", "198.19.8.12"); st != "NOERROR" || !slices.Equal(ans, []string{"alpine2.test-net."}) {
			t.Errorf("PTR of 198.19.8.12: %s %v; want NOERROR [alpine2.test-net.]", st, ans)
		}
		if st, ans := dig(t, alpine1, "-x", "198.19.8.99"); st != "NXDOMAIN" {
			t.Errorf("PTR of an unused overlay address: %s %v; want NXDOMAIN", st, ans)
		}
	})
	other := container(t, h1, "other", "other-net", "198.19.9.11")
	t.Run("another network's names do not resolve", func(t *testing.T) {
		// NAME.NETWORK of a network the asker is not on goes upstream,
		// which knows nothing of it.
		up, err := lab.StartUpstreamDNS()
		if err != nil {
			t.Fatal(err)
		}
		defer up.Close()
		for _, name := range []string{"alpine2", "db", "alpine2.test-net"} {
			if st, ans := dig(t, other, name, "A"); st != "NXDOMAIN" {
				t.Errorf("%s from other-net: %s %v; want NXDOMAIN", name, st, ans)
			}
		}
	})
	t.Run("names are unique per network, not across networks", func(t *testing.T) {
		dup, err := lab.Container("dup")
		if err != nil {
			t.Fatal(err)
		}
		out, err := h1.CLI("attach", "--network", "test-net", "--name", "alpine2", dup)
		if err == nil || !strings.Contains(out+err.Error(), "name alpine2 is already used on network test-net") {
			t.Errorf("second alpine2 on test-net: %v\n%s\nwant refused: name already used", err, out)
		}
		cli(t, h1, "attach", "--network", "other-net", "--name", "alpine2", "--ip", "198.19.9.12", dup)
		if !poll.Wait(time.Second, func() bool { return resolves(t, other, "alpine2", "198.19.9.12") }) {
			t.Errorf("alpine2 on other-net does not resolve there to its own address")
		}
		if !resolves(t, alpine1, "alpine2", "198.19.8.12") {
			t.Errorf("alpine2 on test-net no longer resolves to its own address")
		}
	})
	t.Run("a detached name stops resolving within 3 s", func(t *testing.T) {
		cli(t, h2, "detach", "--network", "test-net", alpine2)
		start := time.Now()
		if !poll.Wait(3*time.Second, func() bool { st, _ := dig(t, alpine1, "alpine2", "A"); return st == "NXDOMAIN" }) {
			t.Fatalf("alpine2 still resolves 3 s after its detach")
		}
		t.Logf("alpine2 stopped resolving %v after its detach", time.Since(start).Round(10*time.Millisecond))
	})
	t.Run("a dead node's names stop resolving within 3 s and come back", func(t *testing.T) {
		alpine3 := container(t, h2, "alpine3", "test-net", "198.19.8.13")
		if !poll.Wait(time.Second, func() bool { return resolves(t, alpine1, "alpine3", "198.19.8.13") }) {
			t.Fatalf("alpine3 does not resolve")
		}
		if err := h2.Kill(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if !poll.Wait(3*time.Second, func() bool { st, _ := dig(t, alpine1, "alpine3", "A"); return st == "NXDOMAIN" }) {
			t.Fatalf("alpine3 still resolves 3 s after its node was killed")
		}
		t.Logf("alpine3 stopped resolving %v after SIGKILL of its node", time.Since(start).Round(10*time.Millisecond))
		restarted, err := h2.StartWeftd()
		if err != nil {
			t.Fatal(err)
		}
		dumpLogsOnFailure(t, restarted)
		if !poll.Wait(5*time.Second, func() bool {
			return resolves(t, alpine1, "alpine3", "198.19.8.13") && resolves(t, alpine3, "alpine1", "198.19.8.11")
		}) {
			t.Errorf("alpine3 and alpine1 do not resolve each other after alpine3's node came back")
		}
	})
}

// Names that are not containers' go to the host's resolvers; with none
// answering, the client gets SERVFAIL within 2 s (must-show 5).
func TestOtherNamesAreForwarded(t *testing.T) {
	lab := newLab(t, "we2e-fwd")
	h1 := host(t, lab, "h1", 1)
	cli(t, h1, "network", "create", "--vni", "42", "--subnet", "198.19.10.0/24", "net1")
	c1 := container(t, h1, "c1", "net1", "198.19.10.11")
	up, err := lab.StartUpstreamDNS()
	if err != nil {
		t.Fatal(err)
	}
	name := "www." + nstest.UpstreamDomain
	for _, proto := range []string{"+notcp", "+tcp"} {
		if st, ans := dig(t, c1, proto, name, "A"); st != "NOERROR" || !slices.Equal(ans, []string{nstest.UpstreamAnswer.String()}) {
			t.Errorf("%s %s: %s %v; want NOERROR [%s]", proto, name, st, ans, nstest.UpstreamAnswer)
		}
	}
	if st, _ := dig(t, c1, "nothing.example", "A"); st != "NXDOMAIN" {
		t.Errorf("the upstream's NXDOMAIN came back as %s", st)
	}
	if up.Queries() == 0 {
		t.Errorf("the upstream saw no query")
	}
	servfail := func(how string) {
		t.Helper()
		for _, proto := range []string{"+notcp", "+tcp"} {
			start := time.Now()
			st, _ := dig(t, c1, proto, name, "A")
			took := time.Since(start)
			t.Logf("%s, %s: %s after %v", how, proto, st, took.Round(10*time.Millisecond))
			if st != "SERVFAIL" || took > 2*time.Second {
				t.Errorf("%s, %s: %s after %v; want SERVFAIL within 2 s", how, proto, st, took)
			}
		}
	}
	up.SetSilent(true)
	servfail("upstream silent")
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	servfail("upstream gone")
	// The container's own name is still answered locally meanwhile.
	if !resolves(t, c1, "c1", "198.19.10.11") {
		t.Errorf("c1 does not resolve itself while the upstream is down")
	}
}
