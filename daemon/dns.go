package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/daemon/api"
)

// resolverAddr is where every container finds the embedded resolver, as in
// Docker.
const resolverAddr = "127.0.0.11"

// etcNetns is where `ip netns exec NAME` finds the files it bind-mounts over
// /etc, resolv.conf among them. A variable for tests.
var etcNetns = "/etc/netns"

// resolvConfMarker starts every resolv.conf weftd writes, so that it never
// overwrites or removes one it did not write.
const resolvConfMarker = "# written by weftd"

// dnsHost runs the embedded resolver for this node's containers: one
// instance per container namespace, serving at 127.0.0.11:53 inside it, and
// one zone per network. Its methods are called with d.mu held, except
// setZone and removeZone, which are safe anywhere.
type dnsHost struct {
	res    *resolver.Resolver
	log    *slog.Logger
	byNS   map[string]*nsDNS    // by namespace identity (endpoint.NetnsID)
	failed map[string]time.Time // namespaces whose resolver did not start, and when
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

func newDNSHost(cfg resolver.Config, log *slog.Logger) (*dnsHost, error) {
	if cfg.Logger == nil {
		cfg.Logger = log // weftd's handler and format, not slog's default
	}
	res, err := resolver.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded resolver: %w", err)
	}
	return &dnsHost{res: res, log: log, byNS: map[string]*nsDNS{}, failed: map[string]time.Time{}}, nil
}

// sync brings the resolvers in line with the state: an instance in every
// namespace attached to a network here, each knowing its networks, none
// elsewhere, and a zone for every static network. Zones of cluster networks
// come from gossip (see setClusterZone); a network's zone goes with it (see
// stopNetwork). The caller holds d.mu.
func (h *dnsHost) sync(st *state) {
	scopes := map[string][]string{}
	paths := map[string]string{}
	for _, n := range st.Networks {
		for _, ep := range n.Endpoints {
			scopes[ep.NetnsID] = append(scopes[ep.NetnsID], n.ID)
			paths[ep.NetnsID] = ep.Netns
		}
	}
	for id, ns := range h.byNS {
		if _, ok := scopes[id]; !ok {
			h.stop(id, ns)
		}
	}
	for id := range h.failed {
		if _, ok := scopes[id]; !ok {
			delete(h.failed, id)
		}
	}
	for id, nets := range scopes {
		slices.Sort(nets)
		if ns := h.start(id, paths[id]); ns != nil {
			ns.networks.Store(&nets)
		}
	}
	h.syncStatic(st)
}

// start returns the resolver of a namespace, starting it if needed; nil if
// it cannot be started, which is logged: the container keeps its links.
func (h *dnsHost) start(id, path string) *nsDNS {
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
		h.log.Warn("resolv.conf not written; point the container at "+resolverAddr+" by hand", "netns", path, "err", err)
	}
	h.byNS[id] = ns
	return ns
}

// stop ends a namespace's resolver and removes the resolv.conf written for
// it.
func (h *dnsHost) stop(id string, ns *nsDNS) {
	if err := ns.inst.Close(); err != nil {
		h.log.Debug("resolver instance closed with an error", "err", err)
	}
	removeResolvConf(ns.resolvConf)
	delete(h.byNS, id)
}

// syncStatic sets the zone of every static network from its endpoints here.
func (h *dnsHost) syncStatic(st *state) {
	for _, n := range st.Networks {
		if n.Cluster {
			continue
		}
		z := resolver.Zone{ID: n.ID, Name: n.Name, Subnets: []netip.Prefix{n.Subnet}}
		for _, ep := range n.Endpoints {
			z.Endpoints = append(z.Endpoints, resolver.Endpoint{Name: ep.Name, Aliases: ep.Aliases, Addrs: []netip.Addr{ep.IP}})
		}
		h.res.SetZone(z)
	}
}

// describe adds where a container finds its resolver to an endpoint's
// description.
func (h *dnsHost) describe(ep *endpoint, out *api.Endpoint) {
	if ns, ok := h.byNS[ep.NetnsID]; ok {
		out.Resolver, out.ResolvConf = resolverAddr, ns.resolvConf
	}
}

// close stops every instance at shutdown. The resolv.conf files stay, so
// that containers find the resolver again when weftd is back.
func (h *dnsHost) close() {
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
		"nameserver " + resolverAddr + "\noptions ndots:0\n"
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

// forgetNamespace removes the resolv.conf weftd wrote for a named
// namespace that is gone.
func forgetNamespace(nsPath string) {
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

// clusterZone returns the DNS view of a cluster network from the visible
// records of its endpoints, this node's included.
func clusterZone(n *netState, recs []zoneRecord) resolver.Zone {
	z := resolver.Zone{ID: n.ID, Name: n.Name, Subnets: []netip.Prefix{n.Subnet}}
	for _, r := range recs {
		if r.Name == "" && len(r.Aliases) == 0 {
			continue
		}
		z.Endpoints = append(z.Endpoints, resolver.Endpoint{Name: r.Name, Aliases: r.Aliases, Addrs: []netip.Addr{r.IP}})
	}
	return z
}

// zoneRecord is what a zone needs of an endpoint record.
type zoneRecord struct {
	Name    string
	Aliases []string
	IP      netip.Addr
}

// checkNames checks a container name and its aliases: Docker's rule for
// names, and DNS's limits (labels of at most 63 bytes, 253 in all).
func checkNames(name string, aliases []string) error {
	for i, n := range append([]string{name}, aliases...) {
		what := "alias"
		if i == 0 {
			if n == "" {
				continue
			}
			what = "container name"
		}
		if !validName.MatchString(n) || len(n) > 253 || slices.ContainsFunc(strings.Split(n, "."), func(l string) bool { return l == "" || len(l) > 63 }) {
			return badRequest("invalid %s %q: use letters, digits, '_', '.' and '-', in DNS labels of at most 63 characters", what, n)
		}
	}
	return nil
}
