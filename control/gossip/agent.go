package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Agent is one node's gossip endpoint: a memberlist node plus the endpoint
// records it publishes and replicates. Its methods are safe for concurrent
// use.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	life    uint64 // random, tells this run of the node from earlier ones
	meta    []byte // encoded cfg.Meta and life
	ml      *memberlist.Memberlist
	queue   *memberlist.TransmitLimitedQueue
	events  *notifier
	keyring *memberlist.Keyring             // nil: gossip is not encrypted
	keysMu  sync.Mutex                      // serialises SetKeys
	up      atomic.Int32                    // members whose records are visible, this node included
	drops   [len(dropReasons)]atomic.Uint64 // messages dropped, by reason (see Dropped)

	heldMu sync.Mutex // guards held
	held   []held     // messages whose signer was not known yet, oldest first

	mu        sync.Mutex // guards the fields below; never held while calling memberlist
	store     *store
	members   map[string]*memberEntry
	local     map[string]bool                           // networks this node has (SetInterest)
	interests map[string]map[interestKey]*interestEntry // node → (network, life) → latest interest heard, own included
	unpulled  map[string]bool                           // networks taken on before anyone was known to have them
	has       map[string]map[string]bool                // other node → networks it has now
	hasNet    map[string]map[string]bool                // network → other nodes that have it now
	nets      map[string]*netQueue                      // network → its broadcast queue

	retransmitMult int       // memberlist's, for the networks' queues
	jobs           *jobQueue // syncs to send

	lifeMu sync.Mutex // serialises Leave and Shutdown
	left   bool
	shut   bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// memberEntry is what the agent knows of a member.
type memberEntry struct {
	Member
	life  uint64    // the member's life, from its meta
	since time.Time // last change of State
}

// New starts an agent: it creates the memberlist node, which starts
// listening, and the agent's own goroutines. h may be nil. The agent is
// alone until Join. Publish the node's records before joining, so that a
// restarted node does not first withdraw copies from its previous run that
// it is about to publish again.
func New(cfg Config, h Handler) (*Agent, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger.With("node", cfg.NodeID),
		life:      rand.Uint64() | 1,
		store:     newStore(),
		members:   make(map[string]*memberEntry),
		local:     make(map[string]bool),
		interests: make(map[string]map[interestKey]*interestEntry),
		unpulled:  make(map[string]bool),
		has:       make(map[string]map[string]bool),
		hasNet:    make(map[string]map[string]bool),
		nets:      make(map[string]*netQueue),
		jobs:      newJobQueue(),
		stop:      make(chan struct{}),
	}
	var err error
	if a.meta, err = encodeMeta(cfg.Meta, a.life); err != nil {
		return nil, fmt.Errorf("start gossip agent %s: %w", cfg.NodeID, err)
	}
	if len(cfg.Keys) == 0 && cfg.Transport == nil {
		a.log.Warn("gossip is not encrypted: set Keys outside tests")
	}
	if len(cfg.Keys) > 0 {
		if a.keyring, err = memberlist.NewKeyring(cloneKeys(cfg.Keys), slices.Clone(cfg.Keys[0])); err != nil {
			return nil, fmt.Errorf("start gossip agent %s: %w", cfg.NodeID, err)
		}
	}
	mc := cfg.memberlistConfig((*delegate)(a), a.keyring)
	a.queue = &memberlist.TransmitLimitedQueue{NumNodes: a.numUp, RetransmitMult: mc.RetransmitMult}
	a.retransmitMult = mc.RetransmitMult
	a.events = newNotifier(h)
	if a.ml, err = memberlist.Create(mc); err != nil {
		a.events.close()
		return nil, fmt.Errorf("start gossip agent %s: %w", cfg.NodeID, err)
	}
	a.wg.Add(2 + syncWorkers)
	go a.purgeLoop()
	go a.gossipLoop()
	for range syncWorkers {
		go a.syncWorker()
	}
	return a, nil
}

// numUp is the cluster size the broadcast queue scales retransmits by.
func (a *Agent) numUp() int { return max(int(a.up.Load()), 1) }

// Join contacts the given gossip addresses ("host:port", or
// "node-id/host:port") and swaps full state with each. It returns how many
// it reached; the error is nil if that is at least one.
func (a *Agent) Join(addrs []string) (int, error) {
	n, err := a.ml.Join(addrs)
	if err != nil {
		return n, fmt.Errorf("gossip join %s via %s: %w", a.cfg.NodeID, strings.Join(addrs, ", "), err)
	}
	return n, nil
}

// LocalNode returns this node as a Member.
func (a *Agent) LocalNode() Member {
	addr := addrOf(a.ml.LocalNode())
	a.mu.Lock()
	defer a.mu.Unlock()
	m := Member{ID: a.cfg.NodeID, Addr: addr, State: StateAlive, Meta: a.cfg.Meta}
	if e, ok := a.members[a.cfg.NodeID]; ok {
		m.State = e.State
	}
	return m
}

// Members returns every member this agent knows, this node included,
// sorted by ID. Dead and left members stay listed until DeadOwnerTTL after
// they went, which is longer than memberlist itself remembers them.
func (a *Agent) Members() []Member {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Member, 0, len(a.members))
	for _, e := range a.members {
		out = append(out, e.Member)
	}
	slices.SortFunc(out, func(x, y Member) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Leave tells the cluster that this node is going: the others hide its
// records at once and report it as left. It then waits up to timeout (no
// limit if timeout <= 0) for memberlist's own leave message to go out. The
// agent keeps running until Shutdown, which should follow. Leave may not be
// called from a Handler.
func (a *Agent) Leave(timeout time.Duration) error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.shut {
		return errors.New("gossip leave: agent is shut down")
	}
	if a.left {
		return nil
	}
	a.left = true
	l := leaveNotice{Node: a.cfg.NodeID, Life: a.life}
	l.Sig = a.sign(leaveMsg(l))
	a.queue.QueueBroadcast(&broadcast{name: "l/" + a.cfg.NodeID, msg: encodeLeave(l)})
	// Give the notice a gossip round's head start on memberlist's dead
	// message, so that most members see us leave rather than die.
	head := 2 * a.cfg.GossipInterval
	if timeout > 0 {
		head = min(head, timeout/2)
		timeout -= head
	}
	time.Sleep(head)
	if err := a.ml.Leave(timeout); err != nil {
		return fmt.Errorf("gossip leave %s: %w", a.cfg.NodeID, err)
	}
	return nil
}

// Shutdown stops the agent without telling anyone: to the others it looks
// like a crash, and they declare the node dead after the failure detector's
// timeouts (see DefaultConfig). Call Leave first to go gracefully. It waits
// for a Handler call in progress, so it may not be called from a Handler.
// It is safe to call more than once.
func (a *Agent) Shutdown() error {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	if a.shut {
		return nil
	}
	a.shut = true
	err := a.ml.Shutdown()
	close(a.stop)
	a.jobs.close()
	a.wg.Wait()
	a.events.close()
	if err != nil {
		return fmt.Errorf("gossip shutdown %s: %w", a.cfg.NodeID, err)
	}
	return nil
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = slices.Clone(k)
	}
	return out
}
