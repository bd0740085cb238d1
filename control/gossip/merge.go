package gossip

import (
	"maps"
	"time"
)

// outcome is what merging one record did.
type outcome int

const (
	ignored outcome = iota // nothing newer
	stored                 // the record was stored
	refuted                // a record claiming this node was answered with a newer one
)

// merge applies records received from other nodes, from a broadcast (relay:
// pass what is new on) or from a sync (only refutations are sent). Records
// of networks this node does not have are dropped, except its own, which it
// may have to refute. A sync's live records of owners this node does not
// know are skipped: such an owner is long gone, or will be known as soon as
// memberlist's gossip brings it, and brings its records back itself.
func (a *Agent) merge(recs []Record, relay bool) { a.mergeFrom(recs, relay, "") }

// mergeFrom is merge of records sent by from (if not empty) in a sync: the
// live records from owns are kept even if this node does not know it as a
// member yet.
func (a *Agent) mergeFrom(recs []Record, relay bool, from string) {
	a.mergeChecked(a.checkRecords(recs, relay, from, time.Now()), relay, from)
}

// checkRecords returns those of recs worth merging (wanted, and newer than
// the copy held) that are signed by their owner, with versions not ahead
// of this node's clock by more than MaxClockSkew; it drops, counts or holds
// the others (see judge). They arrived at since. Only news is verified, so
// the copies that every relay and sync repeats cost no signature check.
func (a *Agent) checkRecords(recs []Record, relay bool, from string, since time.Time) []Record {
	var cand []Record
	a.mu.Lock()
	for _, r := range recs {
		if !a.takesLocked(r, relay, from) {
			continue
		}
		if cur, had := a.store.get(r.EndpointID); had && !newer(r, cur) {
			continue
		}
		cand = append(cand, r)
	}
	a.mu.Unlock()
	now := time.Now()
	out := cand[:0]
	for _, r := range cand {
		if a.tooNew(r.Version, now) {
			a.drop(dropFutureVersion, "record", r.Node)
			continue
		}
		v, reason := a.verifyRecord(r)
		if a.judge(v, reason, held{rec: &r, relay: relay, from: from, since: since}, "record", r.Node) {
			out = append(out, r)
		}
	}
	return out
}

// takesLocked reports whether merge takes r at all (see merge).
func (a *Agent) takesLocked(r Record, relay bool, from string) bool {
	return a.wantsLocked(r) && (relay || r.Deleted || r.Node == from || a.knownLocked(r.Node))
}

// mergeChecked merges records that checkRecords passed.
func (a *Agent) mergeChecked(recs []Record, relay bool, from string) {
	if len(recs) == 0 {
		return
	}
	now := time.Now()
	nets := make(map[string]bool)
	var out []Record
	a.mu.Lock()
	for _, r := range recs {
		if !a.takesLocked(r, relay, from) {
			continue
		}
		send, how := a.mergeOneLocked(r, now, nets)
		if how == refuted || how == stored && relay {
			out = append(out, send)
		}
	}
	a.mu.Unlock()
	for _, r := range out {
		a.broadcast(r)
	}
	a.events.records(nets)
}

// mergeOneLocked applies one record from another node and returns what it
// stored. A tombstone for a record the node does not hold is dropped once
// older than TombstoneTTL, so that purged tombstones do not come back from
// nodes that purge later.
func (a *Agent) mergeOneLocked(r Record, now time.Time, nets map[string]bool) (Record, outcome) {
	cur, had := a.store.get(r.EndpointID)
	if had && !newer(r, cur) {
		return Record{}, ignored
	}
	if !had && r.Deleted && now.Sub(versionTime(r.Version)) > a.cfg.TombstoneTTL {
		return Record{}, ignored
	}
	if r.Node == a.cfg.NodeID {
		if fix, ok := a.refutation(r, cur, had, now); ok {
			a.log.Info("refuting a copy of our record we did not publish in this run",
				"endpoint", r.EndpointID, "version", r.Version, "deleted", fix.Deleted)
			a.putLocked(fix, now, nets)
			return fix, refuted
		}
	}
	a.putLocked(r, now, nets)
	return r, stored
}

// refutation returns this node's answer to r, a copy of one of its records
// newer than anything it holds (cur, if had): only an earlier run of the
// node can have made it. The node re-asserts its live record above r, or,
// if it has none, deletes r. A tombstone needs no answer.
func (a *Agent) refutation(r, cur Record, had bool, now time.Time) (Record, bool) {
	v := nextVersion(r.Version, now)
	switch {
	case had && cur.Node == a.cfg.NodeID && !cur.Deleted:
		cur.Version = v
		return a.signRecord(cur), true
	case r.Deleted:
		return Record{}, false
	default:
		return a.signRecord(r.tombstone(v)), true
	}
}

// putLocked stores r if it is newer and adds the networks whose visible set
// changed to nets.
func (a *Agent) putLocked(r Record, now time.Time, nets map[string]bool) {
	if old, had, ok := a.store.put(r, now); ok {
		maps.Copy(nets, a.changedLocked(old, had, r))
	}
}

// knownLocked reports whether node is this node or a member, up or down.
func (a *Agent) knownLocked(node string) bool {
	_, ok := a.members[node]
	return ok || node == a.cfg.NodeID
}

// ownerNetworksLocked returns the networks in which node has live records.
func (a *Agent) ownerNetworksLocked(node string) map[string]bool {
	nets := make(map[string]bool)
	for _, e := range a.store.recs {
		if e.rec.Node == node && !e.rec.Deleted {
			nets[e.rec.Network] = true
		}
	}
	return nets
}
