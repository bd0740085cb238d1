// Package dnshost serves weft's embedded resolver inside every container
// namespace on this host, and points the containers at it.
package dnshost

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/weftnet/weft/control/resolver"
)

// Addr is where every container finds the embedded resolver, as in
// Docker.
const Addr = "127.0.0.11"

// etcNetns is where `ip netns exec NAME` finds the files it bind-mounts over
// /etc, resolv.conf among them. A variable for tests.
var etcNetns = "/etc/netns"

// resolvConfMarker starts every resolv.conf weftd writes, so that it never
// overwrites or removes one it did not write.
const resolvConfMarker = "# written by weftd"

// Host runs the embedded resolver for this node's containers: one
// instance per container namespace, serving at 127.0.0.11:53 inside it
// with its own share of forwards in flight (see resolver.Instance), and
// one zone per network. Its methods are safe for concurrent use.
type Host struct {
	res *resolver.Resolver
	log *slog.Logger

	mu     sync.Mutex
	byNS   map[string]*nsDNS    // by namespace identity
	failed map[string]time.Time // namespaces whose resolver did not start, and when
}

// Namespace is a container namespace attached to networks on this host.
type Namespace struct {
	ID       string   // its identity (device and inode)
	Path     string   // the path it was attached by
	Networks []string // the IDs of the networks it is on here
}

// dnsRetry is how long a namespace whose resolver did not start waits
// before the next try.
const dnsRetry = 30 * time.Second

// nsDNS is the resolver of one container namespace.
type nsDNS struct {
	inst       *resolver.Instance
	networks   atomic.Pointer[[]string] // the IDs of the networks the namespace is on here
	resolvConf string                   // the resolv.conf written for it, "" if none
}

// New starts the resolver with no zone and no namespace.
func New(cfg resolver.Config, log *slog.Logger) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = log // weftd's handler and format, not slog's default
	}
	res, err := resolver.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded resolver: %w", err)
	}
	return &Host{res: res, log: log, byNS: map[string]*nsDNS{}, failed: map[string]time.Time{}}, nil
}

// Sync brings the resolvers in line with the namespaces attached here: an
// instance in each, knowing its networks, and none elsewhere. A namespace
// whose resolver cannot start keeps its links; it is logged once and
// tried again on a later Sync after dnsRetry.
func (h *Host) Sync(nss []Namespace) {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := map[string]Namespace{}
	for _, ns := range nss {
		want[ns.ID] = ns
	}
	for id, ns := range h.byNS {
		if _, ok := want[id]; !ok {
			h.stop(id, ns)
		}
	}
	for id := range h.failed {
		if _, ok := want[id]; !ok {
			delete(h.failed, id)
		}
	}
	for id, ns := range want {
		nets := slices.Sorted(slices.Values(ns.Networks))
		if inst := h.start(id, ns.Path); inst != nil {
			inst.networks.Store(&nets)
		}
	}
}

// SetZone adds or replaces a network's zone (see resolver.Resolver.SetZone).
func (h *Host) SetZone(z resolver.Zone) { h.res.SetZone(z) }

// RemoveZone removes a network's zone.
func (h *Host) RemoveZone(id string) { h.res.RemoveZone(id) }

// Known answers from the zones alone (see resolver.Resolver.Known).
func (h *Host) Known(req *dns.Msg, on []string) *dns.Msg { return h.res.Known(req, on) }

// start returns the resolver of a namespace, starting it if needed; nil if
// it cannot be started, which is logged: the container keeps its links.
func (h *Host) start(id, path string) *nsDNS {
	if ns, ok := h.byNS[id]; ok {
		return ns
	}
	if at, ok := h.failed[id]; ok && time.Since(at) < dnsRetry {
		return nil
	}
	pc, ln, err := listenDNS(path, id)
	if err != nil {
		if _, again := h.failed[id]; !again {
			h.log.Warn("no embedded resolver for this namespace; retrying every "+dnsRetry.String(), "netns", path, "err", err)
		}
		h.failed[id] = time.Now()
		return nil
	}
	delete(h.failed, id)
	ns := &nsDNS{}
	empty := []string{}
	ns.networks.Store(&empty)
	ns.inst = h.res.Serve(pc, ln, func() []string { return *ns.networks.Load() })
	if ns.resolvConf, err = writeResolvConf(path); err != nil {
		h.log.Warn("resolv.conf not written; point the container at "+Addr+" by hand", "netns", path, "err", err)
	}
	h.byNS[id] = ns
	return ns
}

// stop ends a namespace's resolver and removes the resolv.conf written for
// it.
func (h *Host) stop(id string, ns *nsDNS) {
	if err := ns.inst.Close(); err != nil {
		h.log.Debug("resolver instance closed with an error", "err", err)
	}
	removeResolvConf(ns.resolvConf)
	delete(h.byNS, id)
}

// Resolver returns where the container of a namespace finds its resolver
// and the resolv.conf written for it, if its resolver serves.
func (h *Host) Resolver(nsID string) (addr, resolvConf string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ns, ok := h.byNS[nsID]
	if !ok {
		return "", "", false
	}
	return Addr, ns.resolvConf, true
}

// Close stops every instance at shutdown. The resolv.conf files stay, so
// that containers find the resolver again when weftd is back.
func (h *Host) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ns := range h.byNS {
		_ = ns.inst.Close()
		delete(h.byNS, id)
	}
	_ = h.res.Close()
}

// namedNetns returns NAME for a namespace under /run/netns/NAME.
func namedNetns(path string) (string, bool) {
	dir, name := filepath.Split(filepath.Clean(path))
	return name, filepath.Clean(dir) == "/run/netns" && name != ""
}

// writeResolvConf points a named namespace at the embedded resolver through
// /etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over
// /etc/resolv.conf. A namespace given by another path gets nothing (""),
// and a resolv.conf that weftd did not write is left alone.
func writeResolvConf(nsPath string) (string, error) {
	name, ok := namedNetns(nsPath)
	if !ok {
		return "", nil
	}
	path := filepath.Join(etcNetns, name, "resolv.conf")
	if b, err := os.ReadFile(path); err == nil && !bytes.HasPrefix(b, []byte(resolvConfMarker)) {
		return "", fmt.Errorf("%s exists and was not written by weftd", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	body := resolvConfMarker + " for weft's embedded resolver; removed when the namespace leaves its last network\n" +
		"nameserver " + Addr + "\noptions ndots:0\n"
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// ForgetNamespace removes the resolv.conf weftd wrote for a named
// namespace that is gone.
func ForgetNamespace(nsPath string) {
	if name, ok := namedNetns(nsPath); ok {
		removeResolvConf(filepath.Join(etcNetns, name, "resolv.conf"))
	}
}

// removeResolvConf removes a resolv.conf weftd wrote, and its directory if
// that is left empty.
func removeResolvConf(path string) {
	if path == "" {
		return
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.HasPrefix(b, []byte(resolvConfMarker)) {
		return
	}
	if err := os.Remove(path); err == nil || errors.Is(err, os.ErrNotExist) {
		_ = os.Remove(filepath.Dir(path)) // fails, harmlessly, unless empty
	}
}
