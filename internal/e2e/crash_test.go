//go:build linux

package e2e

import (
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
	"github.com/weftnet/weft/internal/poll"
)

// crashCapacity is how many addresses crash-net hands out: a /27 less its
// network and broadcast addresses and its gateway.
const crashCapacity = 29

// weftd on a worker is SIGKILLed at random points during 50 attaches and
// detaches, and restarted each time; afterwards every name can be
// attached again, no address is held twice, and the managers hold exactly
// the addresses of the attachments that exist: once every name is
// attached, the rest of the subnet fills to its last address and no
// further (issue 13, fault 9).
func TestCrashesLeakNothing(t *testing.T) {
	lab := newLab(t, "we2e-crash")
	hosts := newCluster(t, lab, 2)
	cli(t, hosts[0], "network", "create", "--attachable", "--subnet", "198.19.7.0/27", "crash-net")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mathrand.New(mathrand.NewPCG(seed, 0))
	const names, ops = 8, 50
	ns := make([]string, names)
	for i := range ns {
		var err error
		if ns[i], err = lab.Container(fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	w := hosts[1]
	t.Cleanup(func() { // the weftd running last; hosts[1]'s own dump says nothing of it
		if t.Failed() {
			t.Log(w.Diagnose())
		}
	})
	kills := 0
	for range ops {
		i := rng.IntN(names)
		args := []string{"attach", "--network", "crash-net", "--name", fmt.Sprintf("k%d", i), ns[i]}
		if rng.IntN(2) == 0 {
			args = []string{"detach", "--network", "crash-net", ns[i]}
		}
		done := make(chan struct{})
		go func() { _, _ = w.CLI(args...); close(done) }()
		if rng.IntN(2) == 0 {
			<-done
			continue
		}
		// Not a wait for a condition: the crash lands at a random point of
		// the operation (or after it).
		time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		if err := w.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		kills++
		restarted, err := w.StartWeftd()
		if err != nil {
			t.Fatal(err)
		}
		w = restarted
	}
	t.Logf("%d operations, weftd killed %d times", ops, kills)
	crashChecks(t, lab, w, ns)
}

// crashChecks detaches every container from the worker w, attaches each
// by its name again (waiting for the reconcile to free what crashes held),
// and fills the subnet: the addresses must all differ and number exactly
// crashCapacity.
func crashChecks(t *testing.T, lab *nstest.Lab, w *nstest.Weftd, ns []string) {
	for _, n := range ns {
		_, _ = w.CLI("detach", "--network", "crash-net", n)
	}
	owner := map[string]string{}
	attach := func(name, netns string) (string, error) {
		out, err := w.CLI("attach", "--network", "crash-net", "--name", name, netns)
		if err != nil {
			return out, err
		}
		ip := attachIP(out)
		if o, dup := owner[ip]; dup {
			t.Fatalf("%s and %s both got %s", o, name, ip)
		}
		owner[ip] = name
		return out, nil
	}
	pending := map[int]string{}
	for i := range ns {
		pending[i] = ""
	}
	if !poll.Wait(30*time.Second, func() bool {
		for i := range pending {
			out, err := attach(fmt.Sprintf("k%d", i), ns[i])
			if err != nil {
				pending[i] = fmt.Sprintf("%v: %s", err, strings.TrimSpace(out))
				continue
			}
			delete(pending, i)
		}
		return len(pending) == 0
	}) {
		t.Fatalf("names not reusable 30 s after the last crash: %v", pending)
	}
	for k := len(ns); ; k++ {
		name := fmt.Sprintf("f%d", k)
		netns, err := lab.Container(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := attach(name, netns)
		if err != nil {
			if len(owner) != crashCapacity || !strings.Contains(out, "no free address") {
				t.Fatalf("attach %s: %v: %s; got %d addresses handed out; want %d, then no free address", name, err, out, len(owner), crashCapacity)
			}
			return
		}
		if len(owner) > crashCapacity {
			t.Fatalf("got %d addresses out of crash-net; want at most %d", len(owner), crashCapacity)
		}
	}
}
