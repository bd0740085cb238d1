package gossip

import "time"

// Publish makes r one of this node's records and broadcasts it. It sets
// r.Node to the local node ID, r.Deleted to false and r.Version to a new
// version (see Record), stores r, and returns what it stored. An empty or
// over-long (255 bytes) EndpointID is a caller bug: nothing is stored, the
// error is logged, and the zero Record (Version 0) is returned.
func (a *Agent) Publish(r Record) Record {
	if r.EndpointID == "" || len(r.EndpointID) > maxIDLen {
		a.log.Error("publish: endpoint ID must be 1 to 255 bytes", "endpoint", r.EndpointID)
		return Record{}
	}
	r = r.clone()
	r.Node, r.Deleted = a.cfg.NodeID, false
	now := time.Now()
	a.mu.Lock()
	prev, _ := a.store.get(r.EndpointID)
	r.Version = nextVersion(prev.Version, now)
	r = a.signRecord(r)
	old, had, _ := a.store.put(r, now)
	nets := a.changedLocked(old, had, r)
	a.mu.Unlock()
	a.broadcast(r)
	a.events.records(nets)
	return r.clone()
}

// Withdraw deletes one of this node's records: it replaces it with a
// tombstone, which is broadcast and kept for TombstoneTTL. It returns false
// if the node holds no live record of its own with that ID.
func (a *Agent) Withdraw(endpointID string) bool {
	now := time.Now()
	a.mu.Lock()
	cur, ok := a.store.get(endpointID)
	if !ok || cur.Deleted || cur.Node != a.cfg.NodeID {
		a.mu.Unlock()
		return false
	}
	t := a.signRecord(cur.tombstone(nextVersion(cur.Version, now)))
	old, had, _ := a.store.put(t, now)
	nets := a.changedLocked(old, had, t)
	a.mu.Unlock()
	a.broadcast(t)
	a.events.records(nets)
	return true
}

// Records returns the visible records of a network, sorted by EndpointID:
// those not deleted whose owner is this node or a member that is up.
func (a *Agent) Records(network string) []Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Record
	for _, r := range a.store.network(network) {
		if a.visibleLocked(r) {
			out = append(out, r.clone())
		}
	}
	return out
}

// Record returns the record the agent holds for an endpoint, whatever its
// state: it may be a tombstone (Deleted) or belong to a member that is down
// (see Members); Records lists only the visible ones.
func (a *Agent) Record(endpointID string) (Record, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.store.get(endpointID)
	return r.clone(), ok
}

// visibleLocked reports whether r shows in Records.
func (a *Agent) visibleLocked(r Record) bool {
	return !r.Deleted && a.ownerUpLocked(r.Node)
}

// ownerUpLocked reports whether the records of node are visible.
func (a *Agent) ownerUpLocked(node string) bool {
	if node == a.cfg.NodeID {
		return true
	}
	e, ok := a.members[node]
	return ok && e.State.up()
}

// changedLocked returns the networks whose visible set changed when old (if
// had) was replaced by r.
func (a *Agent) changedLocked(old Record, had bool, r Record) map[string]bool {
	oldVis, newVis := had && a.visibleLocked(old), a.visibleLocked(r)
	if oldVis && newVis && sameView(old, r) {
		return nil
	}
	nets := make(map[string]bool, 2)
	if oldVis {
		nets[old.Network] = true
	}
	if newVis {
		nets[r.Network] = true
	}
	return nets
}
