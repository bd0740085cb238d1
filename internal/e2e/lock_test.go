//go:build linux

package e2e

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/nstest"
)

// answerLimit is how long the local API and /metrics may take while a
// cluster join waits on a manager.
const answerLimit = 200 * time.Millisecond

// While `weft cluster join` hangs against a manager address that accepts
// TCP and never answers, `weft network ls` and /metrics answer within
// 200 ms every time, another init is refused at once as a conflict, and
// the join then fails with an error that says what happened, leaving the
// node outside any cluster: init, join and leave hold no daemon lock while
// they talk to the cluster.
func TestLockFreeClusterJoin(t *testing.T) {
	lab := newLab(t, "we2e-lock")
	h := host(t, lab, "h1", 1)
	silent := silentListener(t, h.NS, h.IP.String()+":2377")
	token := "WEFT-1-" + strings.Repeat("ab", 32) + "-" + strings.Repeat("a", 26)

	type result struct {
		out string
		err error
	}
	joined := make(chan result, 1)
	go func() {
		out, err := h.CLI("cluster", "join", "--token", token, silent.addr)
		joined <- result{out, err}
	}()
	select {
	case <-silent.accepted:
	case r := <-joined:
		t.Fatalf("the join ended before it reached the silent manager: %v\n%s", r.err, r.out)
	case <-time.After(10 * time.Second):
		t.Fatal("the join did not reach the silent manager within 10 s")
	}

	var slowestLs, slowestMetrics time.Duration
	for i := range 10 {
		slowestLs = max(slowestLs, timed(t, "weft network ls", func() error {
			_, err := h.CLI("network", "ls")
			return err
		}))
		slowestMetrics = max(slowestMetrics, timed(t, "GET /metrics", func() error {
			_, err := h.Metrics()
			return err
		}))
		if i == 0 {
			out, err := h.CLI("cluster", "init")
			if err == nil || !strings.Contains(err.Error()+out, "in progress") {
				t.Errorf("cluster init during the join: got %v\n%s; want it refused as a join in progress", err, out)
			}
		}
		time.Sleep(250 * time.Millisecond) // pace: spread the asks over the join's wait
	}
	t.Logf("during the join: slowest network ls %v, slowest /metrics %v", slowestLs.Round(time.Millisecond), slowestMetrics.Round(time.Millisecond))
	select {
	case r := <-joined:
		t.Fatalf("the join ended while the answers were timed, so they may not have overlapped it: %v\n%s", r.err, r.out)
	default:
	}

	var r result
	select {
	case r = <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("the join against the silent manager had not failed after 30 s")
	}
	if msg := r.out + fmtErr(r.err); r.err == nil || !strings.Contains(msg, "join "+silent.addr) || !strings.Contains(msg, "no answer within") {
		t.Fatalf("the join against the silent manager: got %v\n%s; want it to fail saying the manager at %s gave no answer", r.err, r.out, silent.addr)
	}
	if out, err := h.CLI("node", "ls"); err == nil || !strings.Contains(err.Error()+out, "not part of a cluster") {
		t.Fatalf("node ls after the failed join: got %v\n%s; want the node outside any cluster", err, out)
	}
}

// timed runs f and fails the test if it fails or takes answerLimit or
// more. It returns how long f took.
func timed(t *testing.T, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	err := f()
	took := time.Since(start)
	switch {
	case err != nil:
		t.Errorf("%s during the join: %v", what, err)
	case took >= answerLimit:
		t.Errorf("%s during the join took %v; want under %v", what, took.Round(time.Millisecond), answerLimit)
	}
	return took
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// silent is a TCP listener that accepts connections and never answers.
type silent struct {
	addr     string
	accepted chan struct{} // closed at the first connection
}

// silentListener listens on addr inside namespace ns until the test ends.
func silentListener(t *testing.T, ns, addr string) *silent {
	t.Helper()
	var ln net.Listener
	if err := nstest.Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := &silent{addr: addr, accepted: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		var once sync.Once
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
			once.Do(func() { close(s.accepted) })
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}
