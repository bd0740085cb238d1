package gossip

import (
	"slices"
	"time"
)

// interest says whether one run (life) of a node has a network. Records of
// a network go only to the members that have it; every node learns who
// has what from these, which are gossiped to everyone and carried by
// memberlist's push/pull.
//
// The node sets the versions of its interests as it does for its records
// (see Record): the latest version per (node, network, life) wins, and on
// a tie Left wins. An interest counts only while its node is up and still
// runs the life that said it, so a restarted node starts from what it says
// in its new life, whatever its clock says, and what an earlier life said
// dies out.
type interest struct {
	Node    string
	Network string
	Life    uint64
	Version uint64
	Left    bool
	Sig     []byte // Node's signature (see sign.go)
}

// newer reports whether i should replace o.
func (i interest) newer(o interest) bool {
	if i.Version != o.Version {
		return i.Version > o.Version
	}
	return i.Left && !o.Left
}

// interestEntry is a stored interest and when this node stored it.
type interestEntry struct {
	interest
	stored time.Time
}

// interestKey names the interests of one node that versions order.
type interestKey struct {
	network string
	life    uint64
}

func (i interest) key() interestKey { return interestKey{i.Network, i.Life} }

// SetInterest says which networks this node has: from now on it receives
// and keeps the records of exactly these networks, besides its own. The
// records of a network it no longer has are forgotten, and the networks
// whose visible set changed are reported to the Handler. A network it newly
// has is filled by the members that have it: each owner sends its own
// records, and one member its whole set (as soon as one is known). Call it
// before Join, so that the others learn it with the join.
func (a *Agent) SetInterest(networks []string) {
	want := make(map[string]bool, len(networks))
	for _, n := range networks {
		if n == "" || len(n) > maxIDLen {
			a.log.Error("set interest: network ID must be 1 to 255 bytes", "network", n)
			continue
		}
		want[n] = true
	}
	now := time.Now()
	var said []interest
	var pulls []job
	changed := make(map[string]bool)
	a.mu.Lock()
	for n := range want {
		if !a.local[n] {
			said = append(said, a.sayLocked(n, false, 0, now))
			if len(a.hasNet[n]) > 0 {
				pulls = append(pulls, job{kind: jobPull, network: n})
			} else {
				a.unpulled[n] = true
			}
		}
	}
	for n := range a.local {
		if !want[n] {
			said = append(said, a.sayLocked(n, true, 0, now))
			a.forgetNetworkLocked(n, changed)
			delete(a.unpulled, n)
		}
	}
	a.local = want
	a.mu.Unlock()
	for _, in := range said {
		a.broadcastInterest(in)
	}
	a.jobs.add(pulls...)
	a.events.records(changed)
}

// Interested returns the other members that have a network now, sorted.
func (a *Agent) Interested(network string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.hasNet[network]))
	for node := range a.hasNet[network] {
		out = append(out, node)
	}
	slices.Sort(out)
	return out
}

// sayLocked records this node's new interest in a network, at a version
// above floor and above what it said before, and returns it.
func (a *Agent) sayLocked(network string, left bool, floor uint64, now time.Time) interest {
	own := a.interests[a.cfg.NodeID]
	if own == nil {
		own = make(map[interestKey]*interestEntry)
		a.interests[a.cfg.NodeID] = own
	}
	prev := floor
	k := interestKey{network, a.life}
	if e, ok := own[k]; ok {
		prev = max(prev, e.Version)
	}
	in := interest{Node: a.cfg.NodeID, Network: network, Life: a.life, Version: nextVersion(prev, now), Left: left}
	in.Sig = a.sign(interestMsg(in))
	own[k] = &interestEntry{interest: in, stored: now}
	return in
}

// forgetNetworkLocked drops the records of other nodes in a network this
// node no longer has, adding the network to changed if any was visible.
func (a *Agent) forgetNetworkLocked(network string, changed map[string]bool) {
	for _, r := range a.store.network(network) {
		if r.Node == a.cfg.NodeID {
			continue
		}
		if a.visibleLocked(r) {
			changed[network] = true
		}
		a.store.remove(r.EndpointID)
	}
}

// wantsLocked reports whether this node keeps a record: one of its own, or
// one of a network it has.
func (a *Agent) wantsLocked(r Record) bool {
	return r.Node == a.cfg.NodeID || a.local[r.Network]
}

// broadcastInterest queues an interest for gossip to every member.
func (a *Agent) broadcastInterest(in interest) {
	a.queue.QueueBroadcast(&broadcast{name: "i/" + in.Node + "/" + in.Network, msg: encodeInterest(in)})
}

// mergeInterests applies interests heard from other nodes, from a
// broadcast (relay: pass what is new on) or a push/pull, once checked (see
// checkInterests).
func (a *Agent) mergeInterests(ins []interest, relay bool) {
	a.applyInterests(a.checkInterests(ins, relay, time.Now()), relay)
}

// checkInterests returns those of ins that would change something and are
// signed by their node, with versions not ahead of this node's clock by
// more than MaxClockSkew; it drops, counts or holds the others (see
// judge). They arrived at since.
func (a *Agent) checkInterests(ins []interest, relay bool, since time.Time) []interest {
	var cand []interest
	a.mu.Lock()
	for _, in := range ins {
		if a.interestNewsLocked(in) {
			cand = append(cand, in)
		}
	}
	a.mu.Unlock()
	now := time.Now()
	out := cand[:0]
	for _, in := range cand {
		if a.tooNew(in.Version, now) {
			a.drop(dropFutureVersion, "interest", in.Node)
			continue
		}
		if a.judge(a.verify(in.Node, interestMsg(in), in.Sig), dropSignature, held{in: &in, relay: relay, since: since}, "interest", in.Node) {
			out = append(out, in)
		}
	}
	return out
}

// interestNewsLocked reports whether merging in would change anything: a
// newer interest of another node, or a wrong claim about this node's
// current life that it must answer.
func (a *Agent) interestNewsLocked(in interest) bool {
	if in.Node == a.cfg.NodeID {
		return a.wrongClaimLocked(in)
	}
	cur, ok := a.interests[in.Node][in.key()]
	return !ok || in.newer(cur.interest)
}

// applyInterests merges checked interests. A claim about this node's
// current life that is not what it says is answered with a newer interest.
// Members that newly have a network are sent this node's records of it.
func (a *Agent) applyInterests(ins []interest, relay bool) {
	if len(ins) == 0 {
		return
	}
	now := time.Now()
	var out []interest
	var jobs []job
	touched := make(map[string]bool)
	a.mu.Lock()
	for _, in := range ins {
		if in.Node == a.cfg.NodeID {
			if fix, ok := a.refuteInterestLocked(in, now); ok {
				out = append(out, fix)
			}
			continue
		}
		m := a.interests[in.Node]
		if m == nil {
			m = make(map[interestKey]*interestEntry)
			a.interests[in.Node] = m
		}
		if cur, ok := m[in.key()]; ok && !in.newer(cur.interest) {
			continue
		}
		m[in.key()] = &interestEntry{interest: in, stored: now}
		touched[in.Node] = true
		if relay {
			out = append(out, in)
		}
	}
	for node := range touched {
		jobs = append(jobs, a.refreshInterestLocked(node)...)
	}
	a.mu.Unlock()
	for _, in := range out {
		a.broadcastInterest(in)
	}
	a.jobs.add(jobs...)
}

// refuteInterestLocked returns this node's answer to a claim about its own
// interest in a network, if the claim is wrong (see wrongClaimLocked).
func (a *Agent) refuteInterestLocked(in interest, now time.Time) (interest, bool) {
	if !a.wrongClaimLocked(in) {
		return interest{}, false
	}
	return a.sayLocked(in.Network, !a.local[in.Network], in.Version, now), true
}

// wrongClaimLocked reports whether in is a claim about this node's current
// life that is not what it says, and not older than what it said last.
func (a *Agent) wrongClaimLocked(in interest) bool {
	if in.Life != a.life || in.Left == !a.local[in.Network] {
		return false
	}
	e, ok := a.interests[a.cfg.NodeID][in.key()]
	return !ok || e.Version <= in.Version
}

// refreshInterestLocked recomputes which networks another node has now:
// those of its current life it did not leave, if it is up. It returns the
// jobs that send this node's own records to it for each network it newly
// has, and the pull of a network this node took on before anyone was known
// to have it.
func (a *Agent) refreshInterestLocked(node string) []job {
	now := make(map[string]bool)
	if e, ok := a.members[node]; ok && e.State.up() {
		for k, in := range a.interests[node] {
			if !in.Left && k.life == e.life {
				now[k.network] = true
			}
		}
	}
	var jobs []job
	for n := range a.has[node] {
		if !now[n] {
			a.setHasLocked(node, n, false)
		}
	}
	for n := range now {
		if !a.has[node][n] {
			a.setHasLocked(node, n, true)
			if a.ownsInLocked(n) {
				jobs = append(jobs, job{kind: jobPush, node: node, network: n})
			}
			if a.unpulled[n] {
				delete(a.unpulled, n)
				jobs = append(jobs, job{kind: jobPull, network: n})
			}
		}
	}
	return jobs
}

// setHasLocked updates both indexes of who has what, and the size the
// network's broadcast queue scales its retransmits by.
func (a *Agent) setHasLocked(node, network string, has bool) {
	byNode, byNet := a.has[node], a.hasNet[network]
	if has {
		if byNode == nil {
			byNode = make(map[string]bool)
			a.has[node] = byNode
		}
		if byNet == nil {
			byNet = make(map[string]bool)
			a.hasNet[network] = byNet
		}
		byNode[network], byNet[node] = true, true
	} else {
		delete(byNode, network)
		delete(byNet, node)
		if len(byNode) == 0 {
			delete(a.has, node)
		}
		if len(byNet) == 0 {
			delete(a.hasNet, network)
		}
	}
	if q, ok := a.nets[network]; ok {
		q.peers.Store(int32(len(a.hasNet[network])))
	}
}

// ownsInLocked reports whether this node holds a record of its own, live
// or tombstone, in a network.
func (a *Agent) ownsInLocked(network string) bool {
	for id := range a.store.byNet[network] {
		if a.store.recs[id].rec.Node == a.cfg.NodeID {
			return true
		}
	}
	return false
}

// interestStateLocked returns the interests worth a push/pull: this node's,
// and those of members up that their current life said.
func (a *Agent) interestStateLocked() []interest {
	var out []interest
	for node, m := range a.interests {
		e, ok := a.members[node]
		mine := node == a.cfg.NodeID
		if !mine && (!ok || !e.State.up()) {
			continue
		}
		for _, in := range m {
			if mine || in.Life == e.life {
				out = append(out, in.interest)
			}
		}
	}
	return out
}

// purgeInterestsLocked forgets interests that no longer count and are
// older than TombstoneTTL: Left ones, those of an earlier life of their
// node, and those of nodes no longer members.
func (a *Agent) purgeInterestsLocked(now time.Time) {
	for node, m := range a.interests {
		e, known := a.members[node]
		mine := node == a.cfg.NodeID
		for k, in := range m {
			if now.Sub(in.stored) <= a.cfg.TombstoneTTL {
				continue
			}
			if in.Left || !mine && (!known || in.Life != e.life) {
				delete(m, k)
			}
		}
		if len(m) == 0 {
			delete(a.interests, node)
		}
	}
}
