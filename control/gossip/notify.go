package gossip

import "sync"

// Handler is told about changes an Agent sees. Calls come one at a time
// from a goroutine of the agent that holds none of the agent's locks, so a
// handler may call any Agent method except Shutdown and Leave. A slow
// handler delays later calls, not gossip.
type Handler interface {
	// RecordsChanged is called (from a goroutine of the agent, never with a
	// lock held that the handler could need) after the visible record set
	// of a network changed: a record added/updated/deleted, or its owner
	// died/left/returned. Changes that happen before the call is delivered
	// are folded into it: read the new set with Records.
	RecordsChanged(network string)
	// MemberChanged is called after a member joined, left, died, or came
	// back, or changed its meta. The local node is not reported.
	MemberChanged(m Member)
}

// nopHandler is used when New is given no Handler.
type nopHandler struct{}

func (nopHandler) RecordsChanged(string) {}
func (nopHandler) MemberChanged(Member)  {}

// event is one pending Handler call: a member change or a network change.
type event struct {
	member  *Member
	network string
}

// notifier queues Handler calls and makes them from its own goroutine, in
// order. A network already queued is not queued again.
type notifier struct {
	h    Handler
	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	queue   []event
	pending map[string]bool // networks in queue
}

func newNotifier(h Handler) *notifier {
	if h == nil {
		h = nopHandler{}
	}
	n := &notifier{h: h, wake: make(chan struct{}, 1), done: make(chan struct{}), pending: make(map[string]bool)}
	n.wg.Add(1)
	go n.run()
	return n
}

// records queues RecordsChanged calls for the given networks.
func (n *notifier) records(networks map[string]bool) {
	if len(networks) == 0 {
		return
	}
	n.mu.Lock()
	for net := range networks {
		if !n.pending[net] {
			n.pending[net] = true
			n.queue = append(n.queue, event{network: net})
		}
	}
	n.mu.Unlock()
	n.signal()
}

// member queues a MemberChanged call.
func (n *notifier) member(m Member) {
	n.mu.Lock()
	n.queue = append(n.queue, event{member: &m})
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.wake:
		}
		for _, ev := range n.take() {
			if ev.member != nil {
				n.h.MemberChanged(*ev.member)
			} else {
				n.h.RecordsChanged(ev.network)
			}
		}
	}
}

// take empties the queue. Networks are no longer pending once taken, so a
// change during delivery queues them again.
func (n *notifier) take() []event {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queue
	n.queue = nil
	clear(n.pending)
	return q
}

// close stops delivery, drops what is queued, and waits for a call in
// progress to return.
func (n *notifier) close() {
	close(n.done)
	n.wg.Wait()
}
