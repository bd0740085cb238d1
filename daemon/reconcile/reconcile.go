// Package reconcile programs the data plane of this node's cluster networks
// from the gossip records of their endpoints.
//
// One Reconciler serves one cluster membership. The daemon tells it which
// cluster networks this node has (Track, Forget) and hands it their data
// keys (SetKeys); gossip tells it which networks' records changed
// (Schedule). Its goroutine then reads a network's records and states the
// network whole to the data plane (vtep.Engine.Apply): a MAC → VTEP and an
// IP → MAC row for every remote endpoint, broadcast replicated to exactly
// the VTEPs that have endpoints there, and on an encrypted network its SAs.
// It also gives the resolver each network's names.
//
// Everything a Reconciler holds is guarded by its mutex, which it keeps
// while it applies a network, so that once Forget returns nothing of that
// network is applied again. The daemon may call its methods while holding
// its own lock; the Reconciler never calls the daemon with its mutex held.
package reconcile

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/vtep"
)

// Records is what the reconciler reads of gossip.
type Records interface {
	// Records returns the visible records of a network, this node's
	// included (see gossip.Agent.Records).
	Records(network string) []gossip.Record
}

// DataPlane is what the reconciler programs (see vtep.Engine.Apply).
type DataPlane interface {
	Apply(vni uint32, s vtep.NetworkState) error
}

// Zones is where the reconciler puts the names of a network's endpoints
// (see resolver.Resolver). Its methods must not block.
type Zones interface {
	SetZone(z resolver.Zone)
	RemoveZone(id string)
}

// Network is a cluster network this node has.
type Network struct {
	ID        string
	Name      string
	VNI       uint32
	Subnet    netip.Prefix
	Encrypted bool
}

// Config is what a Reconciler works with.
type Config struct {
	// Node is this node's ID: its own records are not programmed.
	Node string
	// Boot is this run of weftd (random per start); with Node it names
	// this end of every SA.
	Boot uint64
	// DataAddr is this node's underlay address, the local end of its SAs.
	DataAddr netip.Addr
	Records  Records
	Plane    DataPlane
	Zones    Zones
	// Advertise is called when this node can open a newer data key
	// generation of a network than its records say: the daemon gossips
	// its endpoints there again with KeyGen gen (see KeyGen). It is called
	// from the reconciler's goroutine, with none of its locks held.
	Advertise func(network string, gen uint64)
	// Resync is how often every network is reconciled whether or not
	// gossip said it changed: a safety net.
	Resync time.Duration
	// State, if set, fetches the managers' state, whose data keys the
	// reconciler takes (SetKeys) every KeyPoll while it tracks an
	// encrypted network; a call is given twice KeyPoll to answer.
	State   func(ctx context.Context) (*store.State, error)
	KeyPoll time.Duration
	Log     *slog.Logger
}

// Defaults of the periods weftd uses.
const (
	DefaultResync  = 5 * time.Second
	DefaultKeyPoll = time.Second // with three generations live, rotations down to 3 s
)

// Reconciler programs this node's cluster networks from gossip. Its
// methods are safe for concurrent use.
type Reconciler struct {
	cfg  Config
	kick chan struct{} // wakes the loop; never blocks a sender
	stop chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex
	nets       map[string]*Network    // tracked networks by ID; a new Track makes a new pointer
	pending    map[string]bool        // network IDs to reconcile
	keys       map[string][]store.Key // data keys of tracked encrypted networks, newest first
	advertised map[string]uint64      // newest generation whose SAs are installed, by network
	sas        map[string]*saCache    // by network ID; kept across Forget while generations live
}

// New returns a reconciler; it does nothing until Start.
func New(cfg Config) *Reconciler {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.KeyPoll <= 0 {
		cfg.KeyPoll = DefaultKeyPoll
	}
	return &Reconciler{
		cfg: cfg, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		nets: map[string]*Network{}, pending: map[string]bool{}, keys: map[string][]store.Key{},
		advertised: map[string]uint64{}, sas: map[string]*saCache{},
	}
}

// Start runs the reconciler's goroutines until Close: one reconciles,
// one follows the data keys if Config.State is set.
func (r *Reconciler) Start() {
	r.wg.Add(1)
	go r.loop()
	if r.cfg.State != nil {
		r.wg.Add(1)
		go r.keyLoop()
	}
}

// Close stops the goroutines and waits for them. Networks stay as they
// are programmed.
func (r *Reconciler) Close() {
	close(r.stop)
	r.wg.Wait()
}

// Track says that this node has a cluster network now, started in the data
// plane, and schedules it. A network tracked again (rebuilt) replaces the
// earlier one: what was being applied for that is dropped.
func (r *Reconciler) Track(n Network) {
	r.mu.Lock()
	r.nets[n.ID] = &n
	r.mu.Unlock()
	r.Schedule(n.ID)
}

// Forget says that this node no longer has a network. When Forget returns,
// nothing of it is applied any more, its zone is removed, and its keys are
// forgotten; its SAs are kept while their generation is live, so that a
// network tracked again goes on with the same sequence numbers and replay
// windows (a second SA with the same key would reuse nonces).
func (r *Reconciler) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nets, id)
	delete(r.pending, id)
	delete(r.keys, id)
	delete(r.advertised, id)
	r.cfg.Zones.RemoveZone(id)
}

// Schedule asks for a network to be reconciled: its records changed. It
// never blocks.
func (r *Reconciler) Schedule(id string) {
	r.mu.Lock()
	r.pending[id] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// loop reconciles what is scheduled, and every network every Resync.
func (r *Reconciler) loop() {
	defer r.wg.Done()
	tick := time.NewTicker(r.cfg.Resync)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-tick.C:
			r.scheduleAll()
		}
		for _, id := range r.takePending() {
			r.reconcile(id)
		}
	}
}

func (r *Reconciler) scheduleAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.nets {
		r.pending[id] = true
	}
}

func (r *Reconciler) takePending() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	clear(r.pending)
	return ids
}

// reconcile reads a network's records, then states the network to the
// data plane and the resolver, unless it was forgotten or rebuilt since.
func (r *Reconciler) reconcile(id string) {
	r.mu.Lock()
	n := r.nets[id]
	r.mu.Unlock()
	if n == nil {
		return
	}
	recs := r.cfg.Records.Records(id)
	gen, advertise := r.apply(n, recs)
	if advertise && r.cfg.Advertise != nil {
		r.cfg.Advertise(id, gen)
	}
}

// apply programs n from recs under r.mu. It reports the newest generation
// installed, and whether this node must advertise it.
func (r *Reconciler) apply(n *Network, recs []gossip.Record) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nets[n.ID] != n {
		return 0, false // forgotten or rebuilt while its records were read
	}
	r.cfg.Zones.SetZone(zoneOf(n, recs))
	state := stateOf(r.cfg.Node, recs)
	if n.Encrypted {
		state.Crypto = r.installSAs(n, recs)
	}
	if err := r.cfg.Plane.Apply(n.VNI, state); err != nil {
		r.cfg.Log.Warn("network not programmed", "network", n.Name, "vni", n.VNI, "err", err)
		return 0, false
	}
	newest := newestGen(r.keys[n.ID])
	if !n.Encrypted || r.advertised[n.ID] == newest {
		return newest, false
	}
	r.advertised[n.ID] = newest // every generation held is open now
	return newest, true
}
