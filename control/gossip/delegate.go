package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate is the Agent as memberlist sees it. Its methods are memberlist's
// callbacks; the event callbacks run with memberlist's node lock held, so
// they take only the agent's own locks and never call memberlist.
type delegate Agent

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
)

// NodeMeta returns the encoded NodeMeta; New checked it fits the limit.
func (d *delegate) NodeMeta(limit int) []byte { return d.meta }

// NotifyMsg applies a message from another node: a broadcast, a batch of
// a network's broadcasts, or a sync.
func (d *delegate) NotifyMsg(b []byte) {
	a := (*Agent)(d)
	if len(b) > 0 && b[0] == msgBatch {
		msgs, err := splitBatch(b)
		if err != nil {
			a.log.Warn("dropping gossip message", "err", err)
			return
		}
		for _, m := range msgs {
			a.apply(m)
		}
		return
	}
	a.apply(b)
}

// apply applies one message from another node.
func (a *Agent) apply(b []byte) {
	m, err := decodeMessage(b)
	switch {
	case err != nil:
		a.log.Warn("dropping gossip message", "err", err)
	case m.record != nil:
		a.merge([]Record{*m.record}, true)
	case m.leave != nil:
		a.leaveNotice(*m.leave)
	case m.interest != nil:
		a.mergeInterests([]interest{*m.interest}, true)
	case m.sync != nil:
		a.applySync(*m.sync)
	}
}

// GetBroadcasts hands queued broadcasts to memberlist: leave notices and
// interests, which go to everyone. Records go per network (see sync.go).
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns the interests worth a push/pull (see
// interestStateLocked). Records are not in it: they are synced per network.
func (d *delegate) LocalState(join bool) []byte {
	a := (*Agent)(d)
	a.mu.Lock()
	ins := a.interestStateLocked()
	a.mu.Unlock()
	return encodeState(ins)
}

// MergeRemoteState applies another node's push/pull state.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	a := (*Agent)(d)
	ins, bad, err := decodeState(buf)
	if err != nil {
		a.log.Warn("dropping push/pull state", "err", err)
		return
	}
	if bad > 0 {
		a.log.Warn("push/pull state had invalid interests", "count", bad)
	}
	a.mergeInterests(ins, false)
}

// memberlist's member events.
const (
	evJoin   = iota // joined or came back
	evLeave         // died or left
	evUpdate        // new meta
)

// NotifyJoin records a member that joined or came back.
func (d *delegate) NotifyJoin(n *memberlist.Node) { (*Agent)(d).memberEvent(n, evJoin) }

// NotifyLeave records a member that died or left.
func (d *delegate) NotifyLeave(n *memberlist.Node) { (*Agent)(d).memberEvent(n, evLeave) }

// NotifyUpdate records a member's new meta.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { (*Agent)(d).memberEvent(n, evUpdate) }

// memberEvent applies what memberlist says about n. A member that sent a
// leave notice for its current life stays left: memberlist's death (or a
// meta update still in flight) does not make it dead or alive again. A
// member that comes up, or in a new life, is sent the copies of its records
// this node holds.
func (a *Agent) memberEvent(n *memberlist.Node, ev int) {
	meta, life, err := decodeMeta(n.Meta)
	if err != nil {
		a.log.Warn("bad node meta", "peer", n.Name, "err", err)
	}
	self := n.Name == a.cfg.NodeID
	a.mu.Lock()
	e, known := a.members[n.Name]
	if !known {
		e = &memberEntry{Member: Member{ID: n.Name}}
		a.members[n.Name] = e
	}
	wasUp := known && e.State.up()
	leftNow := known && e.State == StateLeft && e.life == life
	newLife := life != 0 && (!known || e.life != life)
	state := StateAlive
	switch {
	case ev == evLeave && (self || leftNow):
		state = StateLeft
	case ev == evLeave:
		state = StateDead
	case ev == evUpdate && leftNow:
		state = StateLeft
	}
	changed := !known || e.State != state || e.Meta != meta || e.Addr != addrOf(n)
	if !known || e.State != state {
		e.since = time.Now()
	}
	e.State, e.Meta, e.Addr, e.life = state, meta, addrOf(n), life
	var nets map[string]bool
	var jobs []job
	if !self {
		if wasUp != state.up() {
			nets = a.ownerNetworksLocked(n.Name)
		}
		jobs = a.refreshInterestLocked(n.Name)
		if state.up() && (newLife || !wasUp) {
			jobs = append(jobs, job{kind: jobReturn, node: n.Name})
		}
	}
	a.countUpLocked()
	m := e.Member
	a.mu.Unlock()
	a.jobs.add(jobs...)
	if self || !changed {
		return
	}
	a.log.Debug("member changed", "peer", m.ID, "state", m.State)
	a.events.member(m)
	a.events.records(nets)
}

// leaveNotice applies another node's notice that it is leaving, once
// checked (see checkLeave).
func (a *Agent) leaveNotice(l leaveNotice) { a.checkLeave(l, time.Now()) }

// checkLeave applies a leave notice that arrived at since if it is news
// and signed by the node leaving; it drops, counts or holds it otherwise
// (see judge).
func (a *Agent) checkLeave(l leaveNotice, since time.Time) {
	if l.Node == a.cfg.NodeID {
		return
	}
	a.mu.Lock()
	e, ok := a.members[l.Node]
	news := ok && e.life == l.Life && e.State != StateLeft
	a.mu.Unlock()
	if !news || !a.judge(a.verify(l.Node, leaveMsg(l), l.Sig), dropSignature, held{leave: &l, since: since}, "leave notice", l.Node) {
		return
	}
	a.applyLeave(l)
}

// applyLeave applies a checked leave notice: its node is left from now on,
// and its records are hidden. The notice is passed on once.
func (a *Agent) applyLeave(l leaveNotice) {
	a.mu.Lock()
	e, ok := a.members[l.Node]
	if !ok || e.life != l.Life || e.State == StateLeft {
		a.mu.Unlock()
		return
	}
	var nets map[string]bool
	if e.State.up() {
		nets = a.ownerNetworksLocked(l.Node)
	}
	e.State, e.since = StateLeft, time.Now()
	a.refreshInterestLocked(l.Node) // a node going down gains nothing
	a.countUpLocked()
	m := e.Member
	a.mu.Unlock()
	a.queue.QueueBroadcast(&broadcast{name: "l/" + l.Node, msg: encodeLeave(l)})
	a.events.member(m)
	a.events.records(nets)
}

// countUpLocked refreshes the count of members that are up.
func (a *Agent) countUpLocked() {
	n := 0
	for _, e := range a.members {
		if e.State.up() {
			n++
		}
	}
	a.up.Store(int32(n))
}
