package gossip

import "time"

// purgeLoop forgets expired tombstones, records of members long gone, and
// those members, until Shutdown.
func (a *Agent) purgeLoop() {
	defer a.wg.Done()
	t := time.NewTicker(purgePeriod(a.cfg.TombstoneTTL))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-t.C:
			a.purge(now)
			a.expireHeld(now)
		}
	}
}

// purgePeriod checks four times per TombstoneTTL, within [10 ms, 10 s].
func purgePeriod(ttl time.Duration) time.Duration {
	return min(max(ttl/4, 10*time.Millisecond), 10*time.Second)
}

// purge forgets tombstones stored more than TombstoneTTL ago, records of
// members down (or unknown) for more than DeadOwnerTTL together with those
// members, and interests that no longer count. None of them is visible, so
// no Handler call is due.
func (a *Agent) purge(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.store.expired(func(e *entry) bool {
		if e.rec.Deleted {
			return now.Sub(e.stored) > a.cfg.TombstoneTTL
		}
		return a.ownerGoneLocked(e, now)
	})
	for _, id := range ids {
		a.store.remove(id)
	}
	for id, m := range a.members {
		if id != a.cfg.NodeID && !m.State.up() && now.Sub(m.since) > a.cfg.DeadOwnerTTL {
			delete(a.members, id)
		}
	}
	a.purgeInterestsLocked(now)
}

// ownerGoneLocked reports whether e's owner has been down for longer than
// DeadOwnerTTL or, if the owner is unknown, e was stored longer ago.
func (a *Agent) ownerGoneLocked(e *entry, now time.Time) bool {
	if a.ownerUpLocked(e.rec.Node) {
		return false
	}
	since := e.stored
	if m, ok := a.members[e.rec.Node]; ok {
		since = m.since
	}
	return now.Sub(since) > a.cfg.DeadOwnerTTL
}
