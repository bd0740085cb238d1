package gossip

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Records travel per network, to the members that have it (see interest):
//
//   - A change is queued on its network's broadcast queue and gossiped, a
//     few packets every GossipInterval, to random members that have the
//     network; those pass on what is new to them, as memberlist does with
//     its own broadcasts.
//   - Syncs repair what gossip missed, over memberlist's reliable streams:
//     every PushPullInterval a node swaps its set of each network it has
//     with one random member that has it, and offers its own records of
//     networks it does not have to one that does. A node that newly has a
//     network pulls the set from one member that has it, and every owner
//     sends it its own records. A node that comes back, as a new run or
//     from a partition, is sent the copies of its records the others hold,
//     so that it withdraws those it no longer has (see refutation).

// gossipNodes is how many members a network's broadcasts go to each round.
const gossipNodes = 3

// maxPacket bounds a batch of broadcasts sent in one packet. memberlist's
// UDPBufferSize is 1400 bytes, less its own headers and encryption.
const maxPacket = 1300

// syncWorkers bounds the syncs in flight; each may wait for a TCP timeout.
const syncWorkers = 4

// syncMsg is a set of records sent to one member over a stream.
type syncMsg struct {
	From    string   // sender's node ID
	Network string   // the network of Records; "" when they are the receiver's own
	Reply   bool     // an answer or an offer: not to be answered
	Records []Record //
	Bad     int      // records skipped as invalid when decoded
}

// netQueue is one network's broadcast queue.
type netQueue struct {
	queue memberlist.TransmitLimitedQueue
	peers atomic.Int32 // members that have the network, this node excluded
}

// netQueueLocked returns a network's broadcast queue, creating it.
func (a *Agent) netQueueLocked(network string) *netQueue {
	q, ok := a.nets[network]
	if !ok {
		q = &netQueue{}
		q.queue.NumNodes = func() int { return int(q.peers.Load()) + 1 }
		q.queue.RetransmitMult = a.retransmitMult
		q.peers.Store(int32(len(a.hasNet[network])))
		a.nets[network] = q
	}
	return q
}

// jobKind says what a sync sends.
type jobKind int

const (
	jobPull   jobKind = iota // this node's set of a network, to be answered with the peer's
	jobReply                 // this node's set of a network
	jobPush                  // this node's own records of a network
	jobReturn                // the records the peer owns, to the peer
)

// job is one sync to send. An empty node means a random member that has
// the network.
type job struct {
	kind    jobKind
	node    string
	network string
}

// jobQueue holds syncs to send, each at most once, for the sync workers.
// Adding never blocks, so memberlist's callbacks may add.
type jobQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending []job
	queued  map[job]bool
	closed  bool
}

func newJobQueue() *jobQueue {
	q := &jobQueue{queued: make(map[job]bool)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues jobs not already queued.
func (q *jobQueue) add(jobs ...job) {
	if len(jobs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range jobs {
		if !q.closed && !q.queued[j] {
			q.queued[j] = true
			q.pending = append(q.pending, j)
		}
	}
	q.cond.Broadcast()
}

// next waits for a job; it returns false once the queue is closed.
func (q *jobQueue) next() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.pending) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return job{}, false
	}
	j := q.pending[0]
	q.pending = q.pending[1:]
	delete(q.queued, j)
	return j, true
}

// close drops what is queued and releases the workers.
func (q *jobQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed, q.pending, q.queued = true, nil, nil
	q.cond.Broadcast()
}

// syncWorker sends syncs until the job queue closes.
func (a *Agent) syncWorker() {
	defer a.wg.Done()
	for {
		j, ok := a.jobs.next()
		if !ok {
			return
		}
		a.runJob(j)
	}
}

// syncTries bounds the members a sync to "a random member" is tried with:
// one of them may be down without memberlist knowing yet.
const syncTries = 3

// runJob sends one sync. A pull that reached nobody is left for when a
// member that has the network becomes known (see refreshInterestLocked).
func (a *Agent) runJob(j job) {
	a.mu.Lock()
	targets := []string{j.node}
	if j.node == "" {
		targets = a.randomPeersLocked(j.network, syncTries)
	}
	m := syncMsg{From: a.cfg.NodeID, Network: j.network, Reply: true}
	switch j.kind {
	case jobPull:
		m.Records, m.Reply = a.networkStateLocked(j.network), false
	case jobReply:
		m.Records = a.networkStateLocked(j.network)
	case jobPush:
		m.Records = a.ownRecordsLocked(j.network)
	case jobReturn:
		m.Network = ""
		m.Records = a.recordsOfLocked(j.node)
	}
	a.mu.Unlock()
	if len(m.Records) == 0 && m.Reply {
		return
	}
	if a.sendSync(targets, m) || j.kind != jobPull {
		return
	}
	a.mu.Lock()
	if a.local[j.network] {
		a.unpulled[j.network] = true
	}
	a.mu.Unlock()
}

// sendSync sends m to the first of targets it reaches, and reports whether
// it reached one.
func (a *Agent) sendSync(targets []string, m syncMsg) bool {
	msg := encodeSync(m)
	for _, node := range targets {
		to := a.awaitMember(node)
		if to == nil {
			continue
		}
		err := a.ml.SendReliable(to, msg)
		if err == nil {
			return true
		}
		a.log.Debug("sync not sent", "peer", node, "network", m.Network, "err", err)
	}
	return false
}

// networkStateLocked returns the records of a network worth a sync:
// tombstones, and live records of owners that are up. Records of members
// that are down stay out, so that they die out after DeadOwnerTTL instead
// of circulating; the owner brings them back if it returns.
func (a *Agent) networkStateLocked(network string) []Record {
	var out []Record
	for id := range a.store.byNet[network] {
		if r := a.store.recs[id].rec; r.Deleted || a.ownerUpLocked(r.Node) {
			out = append(out, r)
		}
	}
	return out
}

// ownRecordsLocked returns this node's records of a network, live or
// tombstone.
func (a *Agent) ownRecordsLocked(network string) []Record {
	var out []Record
	for id := range a.store.byNet[network] {
		if r := a.store.recs[id].rec; r.Node == a.cfg.NodeID {
			out = append(out, r)
		}
	}
	return out
}

// recordsOfLocked returns the records this node holds that node owns.
func (a *Agent) recordsOfLocked(node string) []Record {
	var out []Record
	for _, e := range a.store.recs {
		if e.rec.Node == node {
			out = append(out, e.rec)
		}
	}
	return out
}

// awaitMember returns memberlist's live node with the given name, waiting
// up to memberWait for it: a node that just joined through a push/pull with
// this one may pull before memberlist here has merged it as a member.
func (a *Agent) awaitMember(name string) *memberlist.Node {
	for end := time.Now().Add(memberWait); ; time.Sleep(memberWait / 20) {
		if n := a.memberNode(name); n != nil || time.Now().After(end) {
			return n
		}
	}
}

// memberWait bounds awaitMember.
const memberWait = time.Second

// memberNode returns memberlist's live node with the given name, or nil.
// It may not be called from memberlist's callbacks.
func (a *Agent) memberNode(name string) *memberlist.Node {
	for _, n := range a.ml.Members() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// applySync merges a sync from another member and answers a pull of a
// network this node has.
func (a *Agent) applySync(m syncMsg) {
	if m.Bad > 0 {
		a.log.Warn("sync had invalid records", "peer", m.From, "count", m.Bad)
	}
	a.mergeFrom(m.Records, false, m.From)
	if m.Reply || m.Network == "" {
		return
	}
	a.mu.Lock()
	has := a.local[m.Network]
	a.mu.Unlock()
	if has {
		a.jobs.add(job{kind: jobReply, node: m.From, network: m.Network})
	}
}

// gossipLoop sends the networks' broadcasts every GossipInterval and starts
// the periodic syncs every PushPullInterval, until Shutdown.
func (a *Agent) gossipLoop() {
	defer a.wg.Done()
	gossip := time.NewTicker(a.cfg.GossipInterval)
	defer gossip.Stop()
	// Start the syncs at a random point of the interval, so that nodes
	// started together do not sync in step.
	first := time.NewTimer(rand.N(a.cfg.PushPullInterval) + 1)
	defer first.Stop()
	var sync *time.Ticker
	var syncC <-chan time.Time
	defer func() {
		if sync != nil {
			sync.Stop()
		}
	}()
	for {
		select {
		case <-a.stop:
			return
		case <-gossip.C:
			a.gossipNetworks()
		case <-first.C:
			sync = time.NewTicker(a.cfg.PushPullInterval)
			syncC = sync.C
			a.syncNetworks()
		case <-syncC:
			a.syncNetworks()
		}
	}
}

// gossipNetworks sends one round of every network's queued broadcasts.
func (a *Agent) gossipNetworks() {
	type round struct {
		q     *netQueue
		peers []string
	}
	var rounds []round
	a.mu.Lock()
	for n, q := range a.nets {
		if q.queue.NumQueued() == 0 {
			if !a.local[n] {
				delete(a.nets, n)
			}
			continue
		}
		// With nobody to tell, the queue is dropped: a member that takes
		// the network on later is sent the whole set by syncs.
		if peers := a.randomPeersLocked(n, gossipNodes); len(peers) > 0 {
			rounds = append(rounds, round{q, peers})
		} else {
			q.queue.Reset()
		}
	}
	a.mu.Unlock()
	if len(rounds) == 0 {
		return
	}
	nodes := make(map[string]*memberlist.Node)
	for _, n := range a.ml.Members() {
		nodes[n.Name] = n
	}
	for _, r := range rounds {
		msgs := r.q.queue.GetBroadcasts(2, maxPacket-1)
		if len(msgs) == 0 {
			continue
		}
		pkt := encodeBatch(msgs)
		for _, p := range r.peers {
			if to, ok := nodes[p]; ok {
				if err := a.ml.SendBestEffort(to, pkt); err != nil {
					a.log.Debug("network gossip not sent", "peer", p, "err", err)
				}
			}
		}
	}
}

// syncScale returns how many PushPullIntervals apart a node swaps a network
// of n members, on average: 1 up to 32 members, and one more each time n
// doubles past that, as memberlist stretches its own push/pull, so that the
// syncs a node receives stay few however large the network.
func syncScale(n int) int {
	const threshold = 32
	if n <= threshold {
		return 1
	}
	return int(math.Ceil(math.Log2(float64(n))-math.Log2(threshold))) + 1
}

// randomPeersLocked returns up to k random other members that have a
// network.
func (a *Agent) randomPeersLocked(network string, k int) []string {
	peers := make([]string, 0, len(a.hasNet[network]))
	for node := range a.hasNet[network] {
		peers = append(peers, node)
	}
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	return peers[:min(k, len(peers))]
}

// syncNetworks starts one round of periodic syncs: a swap of each network
// this node has, and an offer of its own records of each it does not. A
// network of many members is swapped in fewer rounds (see syncScale).
func (a *Agent) syncNetworks() {
	var jobs []job
	a.mu.Lock()
	for n := range a.local {
		if rand.IntN(syncScale(len(a.hasNet[n])+1)) == 0 {
			jobs = append(jobs, job{kind: jobPull, network: n})
		}
	}
	offered := make(map[string]bool)
	for _, e := range a.store.recs {
		if n := e.rec.Network; e.rec.Node == a.cfg.NodeID && !a.local[n] && !offered[n] {
			offered[n] = true
			jobs = append(jobs, job{kind: jobPush, network: n})
		}
	}
	a.mu.Unlock()
	a.jobs.add(jobs...)
}
