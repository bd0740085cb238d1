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
	"sync/atomic"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/capture"
	"github.com/weftnet/weft/daemon/dnshost"
	"github.com/weftnet/weft/daemon/links"
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
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	reg      *metrics.Registry
	fdb      *fdb.Table
	engine   *vtep.Engine
	dataAddr netip.AddrPort
	underMTU int
	dns      *dnshost.Host
	boot     uint64 // random per run: part of the identities data keys are derived for

	mu        sync.Mutex // guards st, cl, clusterOp, netKeys and the links they describe
	st        *state
	cl        *cluster.Node          // nil outside a cluster
	clusterOp string                 // "init", "join" or "leave" while one talks to the cluster unlocked
	netKeys   map[string][]store.Key // encrypted networks' data keys by network ID, newest first
	// advertised is, by network ID, the newest key generation this node's
	// records say it opens: set once its Inbound SAs are installed.
	advertised map[string]uint64

	// The reconciler programs cluster networks from gossip.
	recMu      sync.Mutex
	recPending map[string]bool // network IDs to reconcile
	recKick    chan struct{}
	installed  map[string]installedSet       // by network ID; the reconciler's own
	sas        map[string]map[saKey]*saEntry // encrypted networks' SAs by network ID; the reconciler's own
	saFloor    map[string]uint64             // by network ID, the newest generation retired; the reconciler's own
	saActive   map[string]map[saKey]bool     // by network ID, the SAs installed now; the reconciler's own
	keyQueries []keyQuery                    // under recMu
	epochs     atomic.Uint64                 // numbers each start of a network
	orphans    []string                      // endpoint IDs of cluster attachments restore forgot; their addresses go back
	stop       chan struct{}
	captures   capture.Server // debug captures in flight; ended when the API shuts down
	taps       links.TAPs     // opens the networks' TAPs as configured
}

// New opens the state and the underlay socket and restores every network.
// The daemon serves nothing until Run.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	d := &Daemon{
		cfg: cfg, log: log, reg: metrics.NewRegistry(), fdb: fdb.New(),
		recPending: map[string]bool{}, recKick: make(chan struct{}, 1),
		installed: map[string]installedSet{}, stop: make(chan struct{}),
		netKeys: map[string][]store.Key{}, sas: map[string]map[saKey]*saEntry{}, boot: mathrand.Uint64(),
		advertised: map[string]uint64{}, saFloor: map[string]uint64{}, saActive: map[string]map[saKey]bool{},
	}
	d.captures.Log = log
	d.taps = links.TAPs{Driver: cfg.TapDriver, Offload: cfg.TapOffload, Queues: cfg.Queues, Batch: cfg.Engine.BatchSize, Log: log,
		Refused: func(name string, err error) {
			offloadRefused(log, &d.reg.Offloads, metrics.OffloadTAP, err, "tap", name)
		}}
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
	if err := d.restore(); err != nil {
		d.engine.Close()
		return nil, err
	}
	if err := d.resumeCluster(); err != nil {
		d.engine.Close()
		return nil, err
	}
	if d.cl == nil {
		d.dropClusterNetworks()
	}
	d.mu.Lock()
	d.syncDNS()
	d.mu.Unlock()
	go d.reconcileLoop(d.stop)
	go d.keyLoop(d.stop)
	if d.cl != nil {
		d.republish() // before joining, so that peers never see this node without its endpoints
		d.cl.Start()
		go d.releaseOrphans(d.cl)
	}
	return d, nil
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
		d.engine.Close()
		return err
	}
	servers := []*http.Server{{Handler: d.apiHandler(), ReadHeaderTimeout: 10 * time.Second}}
	servers[0].RegisterOnShutdown(d.captures.StopAll) // a capture's stream would hold Shutdown up
	listeners := []net.Listener{apiLn}
	if d.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", d.cfg.MetricsAddr)
		if err != nil {
			apiLn.Close()
			d.engine.Close()
			return fmt.Errorf("metrics address: %w", err)
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
	d.mu.Lock()
	c := d.cl
	d.dns.Close() // containers keep their resolv.conf for the next run
	d.mu.Unlock()
	if c != nil {
		_ = c.Close() // outside d.mu: it waits for the node's goroutine, which may want d.mu
	}
	errs = append(errs, d.engine.Close())
	d.log.Info("weftd stopped")
	return errors.Join(errs...)
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
