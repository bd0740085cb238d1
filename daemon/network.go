package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/reconcile"
	"github.com/weftnet/weft/vtep"
)

// The errors a request the daemon refuses gets; the API answers them with
// their status.
var (
	badRequest = api.BadRequest
	notFound   = api.NotFound
	conflict   = api.Conflict
)

// CreateNetwork makes a network: a cluster-wide one through the managers,
// or with req.Static a static-peer one on this host.
func (d *Daemon) CreateNetwork(ctx context.Context, req api.NetworkCreate) (api.Network, error) {
	if !req.Static {
		return d.createClusterNetwork(ctx, req)
	}
	return d.createStaticNetwork(req)
}

// parseNetwork checks a create request against the input rules and the
// networks that exist. The caller holds d.mu.
func (d *Daemon) parseNetwork(req api.NetworkCreate) (*netState, error) {
	if _, ok := d.st.Networks[req.Name]; ok {
		return nil, conflict("network %s already exists", req.Name)
	}
	for _, o := range d.st.Networks {
		if o.VNI == req.VNI {
			return nil, conflict("VNI %d is already used by network %s", req.VNI, o.Name)
		}
	}
	s, err := d.host.StaticNetwork(req)
	if err != nil {
		return nil, err
	}
	return &netState{
		Name: req.Name, VNI: req.VNI, Created: time.Now().UTC(), Endpoints: map[string]*endpoint{}, ID: randomID(),
		Subnet: s.Subnet, Gateway: s.Gateway, Peers: s.Peers, MTU: s.MTU, Internal: req.Internal,
	}, nil
}

// createStaticNetwork validates a request, builds the network's bridge and
// TAP, starts forwarding for it and saves it. On error nothing is left behind.
func (d *Daemon) createStaticNetwork(req api.NetworkCreate) (api.Network, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.parseNetwork(req)
	if err != nil {
		return api.Network{}, err
	}
	if err := d.startNetwork(n); err != nil {
		return api.Network{}, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	d.st.Networks[n.Name] = n
	if err := d.save(); err != nil {
		delete(d.st.Networks, n.Name)
		d.stopNetwork(n)
		return api.Network{}, err
	}
	d.log.Info("network created", "network", n.Name, "vni", n.VNI, "subnet", n.Subnet, "mtu", n.MTU)
	return n.describe(), nil
}

// startNetwork builds (or adopts) a network's bridge and TAP and starts
// forwarding on them; the reconciler programs a cluster network from
// then on. On error it removes only what it made, so that a failed
// restore never takes containers' links away. The caller holds d.mu (or
// is New).
func (d *Daemon) startNetwork(n *netState) error {
	devs, undo, err := d.taps.Open(n.Name, n.VNI, n.MTU)
	if err != nil {
		return err
	}
	if gw := n.gateway(); gw.IsValid() {
		if err := links.SetGateway(links.BridgeName(n.VNI), netip.PrefixFrom(gw, n.Subnet.Bits())); err != nil {
			undo()
			return err
		}
	}
	nc := vtep.NetworkConfig{Name: n.Name, VNI: n.VNI, MTU: n.MTU, Peers: n.Peers, Learn: !n.Cluster, LearnPort: d.cfg.DataPathPort, Encrypted: n.Encrypted}
	if err := d.engine.AddNetwork(nc, devs[0], devs[1:]...); err != nil {
		undo()
		return err
	}
	if _, rec := d.member.Current(); n.Cluster && rec != nil {
		rec.Track(reconcile.Network{ID: n.ID, Name: n.Name, VNI: n.VNI, Subnet: n.Subnet, Encrypted: n.Encrypted})
	}
	return nil
}

// stopNetwork stops forwarding for a network and removes its zone, its TAP
// and its bridge. The caller holds d.mu.
func (d *Daemon) stopNetwork(n *netState) {
	if _, rec := d.member.Current(); n.Cluster && rec != nil {
		rec.Forget(n.ID) // nothing of it is programmed after this
	}
	d.dns.RemoveZone(n.ID)
	if err := d.engine.RemoveNetwork(n.VNI); err != nil {
		d.log.Warn("engine did not release network", "network", n.Name, "err", err)
	}
	if err := links.Remove(n.VNI); err != nil {
		d.log.Warn("links not removed", "network", n.Name, "err", err)
	}
}

// RemoveNetwork removes a network: a static one that has no endpoints on
// this host, or a cluster one that has none anywhere.
func (d *Daemon) RemoveNetwork(ctx context.Context, name string) error {
	d.mu.Lock()
	n, ok := d.st.Networks[name]
	if !ok || n.Cluster {
		d.mu.Unlock()
		return d.removeClusterNetwork(ctx, name)
	}
	defer d.mu.Unlock()
	if len(n.Endpoints) > 0 {
		return conflict("network %s has active endpoints: %s", name, endpointList(n))
	}
	delete(d.st.Networks, name)
	if err := d.save(); err != nil {
		d.st.Networks[name] = n
		return err
	}
	d.stopNetwork(n)
	d.log.Info("network removed", "network", name, "vni", n.VNI)
	return nil
}

func endpointList(n *netState) string {
	var s []string
	for _, ep := range n.Endpoints {
		s = append(s, fmt.Sprintf("%s (%s)", ep.displayName(), ep.IP))
	}
	slices.Sort(s)
	return fmt.Sprint(s)
}

func (ep *endpoint) displayName() string {
	if ep.Name != "" {
		return ep.Name
	}
	return ep.Netns
}

// Networks describes every network this node knows: its static-peer
// networks and the cluster's networks, by name.
func (d *Daemon) Networks(ctx context.Context) ([]api.Network, error) {
	d.mu.Lock()
	out := make([]api.Network, 0, len(d.st.Networks))
	for _, n := range d.st.Networks {
		if !n.Cluster {
			out = append(out, n.describe())
		}
	}
	d.mu.Unlock()
	if c, _ := d.member.Current(); c != nil {
		st, err := c.State(ctx)
		if err != nil {
			return nil, fmt.Errorf("cluster networks: %w", err)
		}
		for _, n := range st.Networks {
			out = append(out, d.describeCluster(n))
		}
	}
	slices.SortFunc(out, func(a, b api.Network) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Network describes one network, static or cluster.
func (d *Daemon) Network(ctx context.Context, name string) (api.Network, error) {
	d.mu.Lock()
	n, ok := d.st.Networks[name]
	if ok && !n.Cluster {
		defer d.mu.Unlock()
		return n.describe(), nil
	}
	d.mu.Unlock()
	_, cn, err := d.member.Network(ctx, name)
	if err != nil {
		return api.Network{}, err
	}
	return d.describeCluster(cn), nil
}

// describe renders a network for the API. The caller holds d.mu.
func (n *netState) describe() api.Network {
	out := api.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: "weft",
		VNI: n.VNI, MTU: n.MTU, Bridge: links.BridgeName(n.VNI), Internal: n.Internal,
		IPAM:       api.IPAM{Config: []api.IPAMConfig{{Subnet: n.Subnet.String()}}},
		Options:    map[string]string{"weft.vni": fmt.Sprint(n.VNI), "com.docker.network.driver.mtu": fmt.Sprint(n.MTU)},
		Peers:      []string{},
		Containers: map[string]api.Endpoint{},
	}
	if n.Gateway.IsValid() {
		out.IPAM.Config[0].Gateway = n.Gateway.String()
	}
	for _, p := range n.Peers {
		out.Peers = append(out.Peers, p.String())
	}
	for id, ep := range n.Endpoints {
		out.Containers[id] = ep.describe(n)
	}
	return out
}

func (ep *endpoint) describe(n *netState) api.Endpoint {
	e := api.Endpoint{Name: ep.Name, EndpointID: ep.ID, Netns: ep.Netns, MacAddress: ep.MAC, Interface: ep.IfName, HostInterface: ep.HostIf, ContainerID: ep.ContainerID}
	addr := netip.PrefixFrom(ep.IP, n.Subnet.Bits()).String()
	if ep.IP.Is4() {
		e.IPv4Address = addr
	} else {
		e.IPv6Address = addr
	}
	ep.describeEgress(n, &e)
	return e
}

// randomID returns 64 hex digits, like Docker's IDs.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
