package resolver

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Resolver answers DNS queries from its zones and forwards the rest. Its
// methods are safe for concurrent use.
type Resolver struct {
	cfg  Config
	log  *slog.Logger
	ups  *upstreams
	pool chan struct{} // the forward slots the Instances share: a token per slot in use (see quota)

	snap atomic.Pointer[snapshot]
	zmu  sync.Mutex // serializes snapshot writers

	imu       sync.Mutex
	instances map[*Instance]struct{}
	closed    bool

	stats counters
}

// New returns a Resolver with no zones, or an error if cfg is not valid.
// With no Upstreams it reads cfg.ResolvConf now; a missing file is not an
// error (it is logged, and read again when it appears).
func New(cfg Config) (*Resolver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Resolver{
		cfg:       cfg,
		log:       cfg.Logger,
		pool:      make(chan struct{}, poolForwards),
		instances: make(map[*Instance]struct{}),
	}
	r.ups = newUpstreams(&cfg, r.log)
	r.snap.Store(newSnapshot(map[string]*zoneIndex{}))
	return r, nil
}

// SetZone adds the zone z.ID, or replaces it. Queries see either the old
// zone or the new one, never a mix.
func (r *Resolver) SetZone(z Zone) {
	zi := buildZone(z, r.log)
	r.zmu.Lock()
	defer r.zmu.Unlock()
	r.snap.Store(r.snap.Load().with(zi))
}

// RemoveZone removes the zone id, if there is one.
func (r *Resolver) RemoveZone(id string) {
	r.zmu.Lock()
	defer r.zmu.Unlock()
	r.snap.Store(r.snap.Load().without(id))
}

// Close closes every Instance still open, as Instance.Close does, and
// returns their errors. Serve after Close returns an Instance already
// closed.
func (r *Resolver) Close() error {
	r.imu.Lock()
	r.closed = true
	open := make([]*Instance, 0, len(r.instances))
	for i := range r.instances {
		open = append(open, i)
	}
	r.imu.Unlock()
	var errs []error
	for _, i := range open {
		errs = append(errs, i.Close())
	}
	return errors.Join(errs...)
}

// track records i as open; it returns false if r is closed.
func (r *Resolver) track(i *Instance) bool {
	r.imu.Lock()
	defer r.imu.Unlock()
	if r.closed {
		return false
	}
	r.instances[i] = struct{}{}
	return true
}

// untrack forgets i.
func (r *Resolver) untrack(i *Instance) {
	r.imu.Lock()
	defer r.imu.Unlock()
	delete(r.instances, i)
}

// Stats counts what a Resolver did since New.
type Stats struct {
	Local      uint64 // queries answered from the zones, NXDOMAIN and NODATA included
	Forwarded  uint64 // queries answered by an upstream
	Failed     uint64 // queries to forward that got SERVFAIL: no upstream configured, or none answered in time
	Overloaded uint64 // queries to forward that got SERVFAIL at once: the asking container had no forward slot free
	Malformed  uint64 // packets answered FORMERR or NOTIMP, or dropped
}

// counters are the live Stats.
type counters struct {
	local, forwarded, failed, overloaded, malformed atomic.Uint64
}

// Stats returns the counts so far.
func (r *Resolver) Stats() Stats {
	c := &r.stats
	return Stats{
		Local:      c.local.Load(),
		Forwarded:  c.forwarded.Load(),
		Failed:     c.failed.Load(),
		Overloaded: c.overloaded.Load(),
		Malformed:  c.malformed.Load(),
	}
}

// isClosed reports whether err is that of a closed socket: shutdown, not
// a failure.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
