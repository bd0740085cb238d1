// Package daemon is weftd: it owns the state of this host's networks and
// attachments and the data plane engine, and wires together the rooms
// under it that do the rest (the local API, request checks, cluster
// membership, the reconciler, links, resolvers, captures, diagnostics);
// docs/architecture.md has the map.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weftnet/weft/daemon/capture"
	"github.com/weftnet/weft/daemon/dnshost"
	"github.com/weftnet/weft/daemon/egress"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/localapi"
	"github.com/weftnet/weft/daemon/membership"
	"github.com/weftnet/weft/daemon/request"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/vtep"
)

// Daemon is one running weftd.
//
// Its fields are set in New and never change, except those under mu. The
// rooms it wires together guard their own state: the engine, the FDB, the
// resolvers (dns), the captures, the membership (its cluster node and
// reconciler).
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	reg      *metrics.Registry
	fdb      *fdb.Table
	engine   *vtep.Engine
	host     request.Host // this node's data path, which requests are checked against
	boot     uint64       // random per run: part of the identities data keys are derived for
	dns      *dnshost.Host
	taps     links.TAPs     // opens the networks' TAPs as configured
	captures capture.Server // debug captures in flight; ended when the API shuts down
	egress   *egress.Table  // weft's nftables rules: forwarding, masquerade, isolation, published ports
	stop     chan struct{}  // closed at shutdown: the daemon's own loops end

	member *membership.Membership // the cluster node and its reconciler, under the membership's own lock

	mu      sync.Mutex // guards the fields below and the links st describes; taken before the membership's
	st      *state     // networks and attachments, as saved
	orphans []string   // endpoint IDs of cluster attachments restore forgot; their addresses go back
	// attaching holds the endpoint IDs of cluster attaches in flight: their
	// address is allocated, or being allocated, but not yet saved, so the
	// reconcile of allocations leaves them alone.
	attaching map[string]bool
}

// New opens the state and the underlay socket and restores every network.
// The daemon serves nothing until Run.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, reg: metrics.NewRegistry(), fdb: fdb.New(), boot: mathrand.Uint64(), stop: make(chan struct{}), attaching: map[string]bool{}}
	d.captures.Log = log
	d.egress = &egress.Table{Log: log}
	d.taps = links.TAPs{Driver: cfg.TapDriver, Offload: cfg.TapOffload, Queues: cfg.Queues, Batch: cfg.Engine.BatchSize, Log: log,
		Refused: tapRefused(log, &d.reg.Offloads)}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st, err := loadState(statePath(d.cfg.StateDir), log)
	if err != nil {
		return nil, err
	}
	d.st = st
	if d.dns, err = dnshost.New(cfg.DNS, log); err != nil {
		return nil, err
	}
	if d.host, d.engine, err = openDataPath(cfg, log, d.reg, d.fdb); err != nil {
		d.dns.Close()
		return nil, err
	}
	d.engine.Start()
	d.member = newMembership(d)
	if err := d.resume(); err != nil {
		_ = d.closeAll()
		return nil, err
	}
	d.start()
	return d, nil
}

// resume brings back the cluster membership, then every network, as they
// were when weftd stopped. It runs before the daemon serves anything, so
// it takes no lock.
func (d *Daemon) resume() error {
	if err := d.member.Resume(); err != nil {
		return err
	}
	if err := d.restore(); err != nil {
		return err
	}
	if c, _ := d.member.Current(); c == nil {
		d.dropClusterNetworks()
	}
	return nil
}

// start starts the daemon's loops and, in a cluster, joins it: this
// node's records are published first, so that peers never see it without
// its endpoints.
func (d *Daemon) start() {
	d.mu.Lock()
	syncDNS(d.dns, d.st)
	d.syncEgressLocked()
	d.mu.Unlock()
	go every(d.stop, pruneInterval, d.pruneGone)
	if c, _ := d.member.Current(); c != nil {
		d.republish()
		c.Start()
		go d.releaseOrphans(c)
	}
}

// statePath is where the state file is in a state directory.
func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// restore brings every network of the saved state back into the data plane,
// adopting the bridges that are still there, and forgets attachments whose
// namespace is gone (deleted without a detach, or the host rebooted), so
// that their addresses and names are free again.
func (d *Daemon) restore() error {
	pruned := 0
	for _, n := range d.st.Networks {
		if err := d.startNetwork(n); err != nil {
			return fmt.Errorf("restore network %s: %w", n.Name, err)
		}
		for _, ep := range n.Endpoints {
			if attachmentGone(ep) {
				forgetGone(d.log, n, ep)
				if n.Cluster {
					d.orphans = append(d.orphans, ep.ID)
				}
				pruned++
			}
		}
		reportStrays(d.log, n)
		d.log.Info("network restored", "network", n.Name, "vni", n.VNI, "endpoints", len(n.Endpoints))
	}
	if pruned > 0 {
		return d.save()
	}
	return nil
}

// attachmentGone reports whether an attachment's namespace went away
// without a detach: its path no longer names the namespace it was attached
// by, or its veth is gone.
func attachmentGone(ep *endpoint) bool {
	if !links.Exists(ep.HostIf) {
		return true
	}
	if ep.Docker {
		return false // its veth goes with its container's namespace
	}
	id, err := links.NamespaceID(ep.Netns)
	return err != nil || id != ep.NetnsID
}

// forgetGone forgets an attachment whose namespace is gone: its veth, the
// resolv.conf written for it, and its entry. The caller holds d.mu (or is
// restore) and saves.
func forgetGone(log *slog.Logger, n *netState, ep *endpoint) {
	log.Warn("attachment gone, forgetting it", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "container", ep.Name)
	if err := links.Delete(ep.HostIf); err != nil {
		log.Debug("veth of a gone attachment not deleted", "link", ep.HostIf, "err", err)
	}
	dnshost.ForgetNamespace(ep.Netns)
	delete(n.Endpoints, ep.ID)
}

// pruneInterval is how often weftd looks for attachments whose namespace
// went away without a detach.
const pruneInterval = 5 * time.Second

// pruneGone forgets attachments whose namespace went away while weftd ran,
// withdraws their records and gives their addresses back, and stops their
// resolvers, whose sockets would otherwise keep the namespace (and its veth
// on the bridge) alive. It also retries resolvers that did not start.
func (d *Daemon) pruneGone() {
	c, _ := d.member.Current()
	d.mu.Lock()
	var released []*endpoint
	changed := false
	for _, n := range d.st.Networks {
		for _, ep := range n.Endpoints {
			if attachmentGone(ep) {
				forgetGone(d.log, n, ep)
				changed = true
				if n.Cluster {
					released = append(released, ep)
				}
			}
		}
	}
	if changed {
		_ = d.save()
	}
	syncDNS(d.dns, d.st)
	d.mu.Unlock()
	for _, ep := range released {
		if c != nil {
			d.member.Withdraw(c, ep.ID)
		}
	}
}

// Run serves the API (and metrics) until ctx is done, then stops the data
// plane. Containers' links are left in place.
func (d *Daemon) Run(ctx context.Context) error {
	apiLn, err := listenUnix(d.cfg.APISocket)
	if err != nil {
		close(d.stop)
		return errors.Join(err, d.closeAll())
	}
	servers := []*http.Server{{Handler: apiHandler(d), ReadHeaderTimeout: 10 * time.Second}}
	servers[0].RegisterOnShutdown(d.captures.StopAll) // a capture's stream would hold Shutdown up
	listeners := []net.Listener{apiLn}
	if d.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", d.cfg.MetricsAddr)
		if err != nil {
			apiLn.Close()
			close(d.stop)
			return errors.Join(fmt.Errorf("metrics address: %w", err), d.closeAll())
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(d.reg, daemonCollector{d}))
		if d.cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		}
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, mln)
	}
	if srv, ln := d.dockerServer(); srv != nil {
		servers, listeners = append(servers, srv), append(listeners, ln)
	}
	errs := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errs <- s.Serve(listeners[i]) }()
	}
	d.log.Info("weftd ready", "api", d.cfg.APISocket, "metrics", d.cfg.MetricsAddr, "data_path", d.host.DataAddr, "underlay_mtu", d.host.UnderlayMTU)
	if d.cfg.Ready != nil {
		d.cfg.Ready()
	}
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	return errors.Join(err, d.shutdown(servers))
}

func (d *Daemon) shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	close(d.stop)
	errs = append(errs, d.closeAll())
	d.log.Info("weftd stopped")
	return errors.Join(errs...)
}

// closeAll stops the cluster membership, the resolvers and the data plane.
// Containers' links stay, and their resolv.conf, for the next run.
func (d *Daemon) closeAll() error {
	if d.member != nil {
		d.member.Close() // outside d.mu: it waits for goroutines that may want d.mu
	}
	d.dns.Close()
	return d.engine.Close()
}

// apiHandler is the local API, served by d's rooms.
func apiHandler(d *Daemon) http.Handler {
	return localapi.Server{Networks: d, Cluster: clusterAPI{d.member, d}, Diag: diagnostics(d), Captures: &d.captures}.Handler()
}

// listenUnix listens on a unix socket, replacing a stale socket file left by a
// daemon that died but refusing to steal one that a live daemon answers on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("api socket %s: another weftd is listening there", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("api socket: %w", err)
	}
	return ln, nil
}

// save writes the state, and programs the egress rules it asks for; the
// caller holds d.mu.
func (d *Daemon) save() error {
	if err := d.st.save(statePath(d.cfg.StateDir)); err != nil {
		d.log.Error("state not saved", "err", err)
		return err
	}
	d.syncEgressLocked() // the rules follow the state
	return nil
}
