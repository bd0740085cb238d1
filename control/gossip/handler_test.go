package gossip

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// reentrantHandler calls back into its agent from every callback, and
// publishes from the first RecordsChanged: with a lock held, this deadlocks.
type reentrantHandler struct {
	agent     atomic.Pointer[Agent]
	calls     atomic.Int32
	published atomic.Bool
}

func (h *reentrantHandler) RecordsChanged(network string) {
	a := h.agent.Load()
	if a == nil {
		return
	}
	a.Records(network)
	a.Members()
	a.Record("x")
	if h.published.CompareAndSwap(false, true) {
		a.Publish(testRecord("n2", "from-handler-"+a.cfg.NodeID, 1))
	}
	h.calls.Add(1)
}

func (h *reentrantHandler) MemberChanged(Member) {
	if a := h.agent.Load(); a != nil {
		a.Members()
		a.LocalNode()
		a.Records("n1")
	}
	h.calls.Add(1)
}

func TestHandlerMayCallAgent(t *testing.T) {
	c := newTestCluster(t, nil)
	ids := []string{"a", "b", "c"}
	agents := make([]*Agent, len(ids))
	handlers := make([]*reentrantHandler, len(ids))
	for i, id := range ids {
		handlers[i] = &reentrantHandler{}
		agents[i] = c.startWith(id, handlers[i])
		handlers[i].agent.Store(agents[i])
		if i > 0 {
			if _, err := agents[i].Join([]string{c.addr("a")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAlive(t, agents, 3)
	agents[0].Publish(testRecord("n1", "e1", 1))
	for i, a := range agents {
		poll.Until(t, 3*time.Second, "every handler's record on "+a.cfg.NodeID, func() bool { return len(a.Records("n2")) == 3 })
		if handlers[i].calls.Load() == 0 {
			t.Errorf("%s: handler never called", a.cfg.NodeID)
		}
	}
	done := make(chan struct{})
	go func() {
		agents[1].Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown blocked")
	}
	poll.Until(t, 5*time.Second, "b's record hidden on a", func() bool { return len(agents[0].Records("n2")) == 2 })
}
