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

// NotifyMsg applies a broadcast from another node.
func (d *delegate) NotifyMsg(b []byte) {
	a := (*Agent)(d)
	m, err := decodeMessage(b)
	switch {
	case err != nil:
		a.log.Warn("dropping gossip message", "err", err)
	case m.record != nil:
		a.merge([]Record{*m.record}, true)
	case m.leave != nil:
		a.leaveNotice(*m.leave)
	}
}

// GetBroadcasts hands queued broadcasts to memberlist.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns the records worth a push/pull: tombstones, and live
// records of members that are up. For a join it returns every record, so
// that a node coming back learns of copies from its previous run and
// withdraws those it no longer has (see refutation). Otherwise records of
// members that are down stay out, so that they die out after DeadOwnerTTL
// instead of circulating; the owner brings them back if it returns.
func (d *delegate) LocalState(join bool) []byte {
	a := (*Agent)(d)
	a.mu.Lock()
	recs := make([]Record, 0, a.store.len())
	for _, e := range a.store.recs {
		if join || e.rec.Deleted || a.ownerUpLocked(e.rec.Node) {
			recs = append(recs, e.rec)
		}
	}
	a.mu.Unlock()
	return encodeState(recs) // stored records are never modified: safe unlocked
}

// MergeRemoteState applies another node's push/pull state.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	a := (*Agent)(d)
	recs, bad, err := decodeState(buf)
	if err != nil {
		a.log.Warn("dropping push/pull state", "err", err)
		return
	}
	if bad > 0 {
		a.log.Warn("push/pull state had invalid records", "count", bad)
	}
	a.merge(recs, false)
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
// meta update still in flight) does not make it dead or alive again.
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
	if !self && wasUp != state.up() {
		nets = a.ownerNetworksLocked(n.Name)
	}
	a.countUpLocked()
	m := e.Member
	a.mu.Unlock()
	if self || !changed {
		return
	}
	a.log.Debug("member changed", "peer", m.ID, "state", m.State)
	a.events.member(m)
	a.events.records(nets)
}

// leaveNotice applies another node's notice that it is leaving: it is left
// from now on, and its records are hidden. The notice is passed on once.
func (a *Agent) leaveNotice(l leaveNotice) {
	if l.Node == a.cfg.NodeID {
		return
	}
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
	a.countUpLocked()
	m := e.Member
	a.mu.Unlock()
	a.queue.QueueBroadcast(&broadcast{name: "l/" + l.Node, msg: encodeLeave(l.Node, l.Life)})
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
