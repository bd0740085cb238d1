// Package daemon is weftd's lifecycle: it owns the state directory, the data
// plane engine, the local API the CLI talks to, the metrics endpoint, and the
// links that attach container namespaces to networks.
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
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/daemon/capture"
	"github.com/weftnet/weft/daemon/dnshost"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/localapi"
	"github.com/weftnet/weft/daemon/reconcile"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/vtep"
)

// Config is how weftd is run. Every path is settable so that several daemons
// can run side by side, one per network namespace.
type Config struct {
	// StateDir holds the state file that networks and attachments survive
	// restarts in.
	StateDir string
	// APISocket is the unix socket the CLI talks to.
	APISocket string
	// MetricsAddr is the TCP address of the Prometheus /metrics endpoint;
	// empty turns it off.
	MetricsAddr string
	// DataPathAddr is the underlay address VXLAN is sent from and received on;
	// unset picks the address of the interface with the default route.
	DataPathAddr netip.Addr
	// DataPathPort is the UDP port of VXLAN, on this host and on peers that
	// name no port.
	DataPathPort uint16
	// GossipPort is the TCP and UDP port of cluster gossip, on the
	// advertise address.
	GossipPort uint16
	// GossipKeyRotation is how often the leader issues a new gossip key;
	// zero or less never rotates.
	GossipKeyRotation time.Duration
	// DataKeyRotation is how often the leader issues a new data key for
	// each encrypted network; zero or less never rotates.
	DataKeyRotation time.Duration
	// Gossip tunes failure detection; see gossip.DefaultConfig. Only its
	// timing fields are used.
	Gossip gossip.Config
	// Engine tunes the data plane.
	Engine vtep.Config
	// TapDriver opens the networks' TAP devices: "linux" (batched reads on
	// the Linux TAP) or "water" (github.com/songgao/water, one frame per
	// call: the portable path, and the benchmark's ablation).
	TapDriver string
	// TapOffload opens the Linux TAP devices with virtio-net headers and
	// TCP segmentation and checksum offload: containers hand weftd TCP
	// super-frames of up to 64 KB, which weftd splits into segments, and
	// weftd writes them received segments coalesced again. Where the
	// kernel refuses the offloads, the TAP is opened without them.
	TapOffload bool
	// Queues is how many queues each network's TAP has, and how many
	// underlay sockets share the data path port (SO_REUSEPORT): each with
	// a loop of its own, so that flows spread over the cores. The linux
	// TAP driver only.
	Queues int
	// UDPOffload sends runs of underlay datagrams to one peer as one
	// UDP_SEGMENT message and reads runs coalesced by UDP_GRO, where the
	// kernel has them; off, every datagram costs its own trip through the
	// stack (the benchmark's ablation).
	UDPOffload bool
	// Pprof serves Go's CPU and heap profiles under /debug/pprof/ on the
	// metrics address, for finding what the data plane spends its time on.
	Pprof bool
	// DNS configures the embedded resolver containers find at 127.0.0.11:
	// where it forwards names that are not containers'.
	DNS resolver.Config
	// Ready, if set, is called once, when Run has its API and metrics
	// listeners serving, after New bound the underlay socket and restored
	// the saved networks: weftd tells systemd it is ready there.
	Ready func()
}

// DefaultConfig returns the configuration weftd uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		StateDir:          "/var/lib/weft",        // as Docker keeps /var/lib/docker
		APISocket:         "/run/weft/weft.sock",  // matches api.DefaultHost
		MetricsAddr:       "127.0.0.1:9723",       // loopback only; expose deliberately
		DataPathPort:      encap.DefaultPort,      // 4789, IANA's VXLAN port
		GossipPort:        7946,                   // as Docker's overlay gossip
		GossipKeyRotation: 12 * time.Hour,         // as Docker rotates its keys
		DataKeyRotation:   12 * time.Hour,         // as Docker rotates its IPsec keys
		Gossip:            gossip.DefaultConfig(), // a dead node is withdrawn within 3 s on a LAN
		TapDriver:         "linux",
		TapOffload:        true,
		Queues:            1,
		UDPOffload:        true,
		Engine:            vtep.DefaultConfig(),     // see vtep.DefaultConfig
		DNS:               resolver.DefaultConfig(), // forwards to the resolvers of the host's /etc/resolv.conf
	}
}

// Daemon is one running weftd.
//
// Its fields are set in New and never change, except those under mu. The
// rooms it wires together guard their own state: the engine, the FDB, the
// resolvers (dns), the captures, the cluster node and the reconciler.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	reg      *metrics.Registry
	fdb      *fdb.Table
	engine   *vtep.Engine
	dataAddr netip.AddrPort
	underMTU int
	boot     uint64 // random per run: part of the identities data keys are derived for
	dns      *dnshost.Host
	taps     links.TAPs     // opens the networks' TAPs as configured
	captures capture.Server // debug captures in flight; ended when the API shuts down
	stop     chan struct{}  // closed at shutdown: the daemon's own loops end

	mu        sync.Mutex            // guards the fields below and the links st describes
	st        *state                // networks and attachments, as saved
	cl        *cluster.Node         // nil outside a cluster
	rec       *reconcile.Reconciler // the reconciler of cl's membership; nil with it
	clusterOp string                // "init", "join" or "leave" while one talks to the cluster unlocked
	orphans   []string              // endpoint IDs of cluster attachments restore forgot; their addresses go back
}

// New opens the state and the underlay socket and restores every network.
// The daemon serves nothing until Run.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, reg: metrics.NewRegistry(), fdb: fdb.New(), boot: mathrand.Uint64(), stop: make(chan struct{})}
	d.captures.Log = log
	d.taps = links.TAPs{Driver: cfg.TapDriver, Offload: cfg.TapOffload, Queues: cfg.Queues, Batch: cfg.Engine.BatchSize, Log: log,
		Refused: tapRefused(log, &d.reg.Offloads)}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st, err := loadState(d.statePath(), log)
	if err != nil {
		return nil, err
	}
	d.st = st
	if d.dns, err = dnshost.New(cfg.DNS, log); err != nil {
		return nil, err
	}
	if err := d.openDataPath(); err != nil {
		return nil, err
	}
	d.engine.Start()
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
	if err := d.resumeCluster(); err != nil {
		return err
	}
	if err := d.restore(); err != nil {
		return err
	}
	if d.cl == nil {
		d.dropClusterNetworks()
	}
	return nil
}

// start starts the daemon's loops and, in a cluster, joins it: this
// node's records are published first, so that peers never see it without
// its endpoints.
func (d *Daemon) start() {
	d.mu.Lock()
	d.syncDNS()
	d.mu.Unlock()
	go every(d.stop, pruneInterval, d.pruneGone)
	if d.cl != nil {
		d.republish()
		d.cl.Start()
		go d.releaseOrphans(d.cl)
	}
}

func (d *Daemon) statePath() string { return filepath.Join(d.cfg.StateDir, "state.json") }

// openDataPath binds the underlay socket and builds the engine on it.
func (d *Daemon) openDataPath() error {
	addr := d.cfg.DataPathAddr
	if !addr.IsValid() {
		var err error
		if addr, err = links.DefaultDataAddr(); err != nil {
			return err
		}
	}
	mtu, err := links.UnderlayMTU(addr)
	if err != nil {
		return fmt.Errorf("data path address %s: %w", addr, err)
	}
	d.dataAddr, d.underMTU = netip.AddrPortFrom(addr, d.cfg.DataPathPort), mtu
	queues := max(d.cfg.Queues, 1)
	if d.cfg.TapDriver == "water" {
		queues = 1 // one TAP queue: more sockets would only split its traffic
	}
	var opts []encap.Option
	if d.cfg.UDPOffload { // turned off by flag, they are not refused
		opts = append(opts, encap.WithOffloadRefused(func(o encap.Offload, err error) {
			offloadRefused(d.log, &d.reg.Offloads, underlayOffload(o), err, "addr", d.dataAddr)
		}))
	}
	socks, err := encap.ListenQueues(d.dataAddr, d.cfg.Engine.BatchSize, queues, opts...)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", d.dataAddr, err)
	}
	conns := make([]encap.Conn, len(socks))
	for i, s := range socks {
		conns[i] = s
		if !d.cfg.UDPOffload {
			err = errors.Join(err, s.DisableOffload())
		}
	}
	if err != nil {
		for _, s := range socks {
			s.Close()
		}
		return fmt.Errorf("listen on %s: %w", d.dataAddr, err)
	}
	setOffloads(&d.reg.Offloads, d.cfg, socks)
	gso, gro := socks[0].Offload()
	d.log.Info("underlay sockets", "addr", d.dataAddr, "queues", queues, "udp_segment", gso, "udp_gro", gro, "batch", d.cfg.Engine.BatchSize)
	d.engine = vtep.NewQueues(d.cfg.Engine, conns, d.fdb, d.reg, d.log)
	return nil
}

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
				d.forgetGone(n, ep)
				if n.Cluster {
					d.orphans = append(d.orphans, ep.ID)
				}
				pruned++
			}
		}
		d.reportStrays(n)
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
	id, err := links.NamespaceID(ep.Netns)
	return err != nil || id != ep.NetnsID
}

// forgetGone forgets an attachment whose namespace is gone: its veth, the
// resolv.conf written for it, and its entry. The caller holds d.mu (or is
// restore) and saves.
func (d *Daemon) forgetGone(n *netState, ep *endpoint) {
	d.log.Warn("attachment gone, forgetting it", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "container", ep.Name)
	if err := links.Delete(ep.HostIf); err != nil {
		d.log.Debug("veth of a gone attachment not deleted", "link", ep.HostIf, "err", err)
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
	d.mu.Lock()
	c := d.cl
	var released []*endpoint
	changed := false
	for _, n := range d.st.Networks {
		for _, ep := range n.Endpoints {
			if attachmentGone(ep) {
				d.forgetGone(n, ep)
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
	d.syncDNS()
	d.mu.Unlock()
	for _, ep := range released {
		if c != nil {
			d.releaseCluster(c, ep)
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
	errs := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errs <- s.Serve(listeners[i]) }()
	}
	d.log.Info("weftd ready", "api", d.cfg.APISocket, "metrics", d.cfg.MetricsAddr, "data_path", d.dataAddr, "underlay_mtu", d.underMTU)
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
	d.mu.Lock()
	c, rec := d.cl, d.rec
	d.mu.Unlock()
	if rec != nil {
		rec.Close()
	}
	if c != nil {
		_ = c.Close() // outside d.mu: it waits for the node's goroutine, which may want d.mu
	}
	d.dns.Close()
	return d.engine.Close()
}

// apiHandler is the local API, served by d's rooms.
func apiHandler(d *Daemon) http.Handler {
	return localapi.Server{Networks: d, Cluster: d, Diag: diagnostics(d), Captures: &d.captures}.Handler()
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

// save writes the state; the caller holds d.mu.
func (d *Daemon) save() error {
	if err := d.st.save(d.statePath()); err != nil {
		d.log.Error("state not saved", "err", err)
		return err
	}
	return nil
}
