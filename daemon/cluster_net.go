package daemon

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/fdb"
)

// clusterTimeout bounds a request that goes to the managers.
const clusterTimeout = 30 * time.Second

// errNoCluster is the answer to a cluster operation on a node outside any.
func errNoCluster() error {
	return badRequest("this node is not part of a cluster: run 'weft cluster init' or 'weft cluster join', or make a static-peer network with --vni and --peer")
}

// createClusterNetwork asks the managers for a cluster-wide network.
func (d *Daemon) createClusterNetwork(ctx context.Context, req api.NetworkCreate) (api.Network, error) {
	d.mu.Lock()
	c := d.cl
	o, ok := d.st.Networks[req.Name]
	local := ok && !o.Cluster
	d.mu.Unlock()
	switch {
	case c == nil:
		return api.Network{}, errNoCluster()
	case !validName.MatchString(req.Name):
		return api.Network{}, badRequest("invalid network name %q: use letters, digits, '_', '.' and '-'", req.Name)
	case local:
		return api.Network{}, conflict("network %s already exists", req.Name)
	}
	n := &store.Network{ID: randomID(), Name: req.Name, Attachable: req.Attachable, Internal: req.Internal, Encrypted: wantsEncryption(req), Options: req.Options, Created: time.Now().UTC()}
	if err := parseClusterAddrs(req, n); err != nil {
		return api.Network{}, err
	}
	var err error
	if n.MTU, err = d.overlayMTU(req.MTU, n.Encrypted); err != nil {
		return api.Network{}, err
	}
	var out store.Network
	if err := c.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: n}, &out); err != nil {
		return api.Network{}, err
	}
	d.log.Info("cluster network created", "network", out.Name, "vni", out.VNI, "subnet", out.Subnet)
	return d.describeCluster(&out), nil
}

// wantsEncryption reports whether a request asks for an encrypted network:
// Encrypted, or the option "encrypted" as Docker's --opt encrypted gives it.
func wantsEncryption(req api.NetworkCreate) bool {
	_, opt := req.Options["encrypted"]
	return req.Encrypted || opt
}

// parseClusterAddrs reads the subnet, gateway and range of a request.
func parseClusterAddrs(req api.NetworkCreate, n *store.Network) error {
	var err error
	if req.Subnet != "" {
		if n.Subnet, n.Gateway, err = parseSubnet(req.Subnet, req.Gateway); err != nil {
			return err
		}
	} else if req.Gateway != "" {
		return badRequest("--gateway needs --subnet")
	}
	if req.IPRange != "" {
		if n.IPRange, err = netip.ParsePrefix(req.IPRange); err != nil {
			return badRequest("invalid --ip-range %q: %v", req.IPRange, err)
		}
	}
	return nil
}

// clusterNetwork finds a cluster network by name in the managers' state.
func (d *Daemon) clusterNetwork(ctx context.Context, name string) (*cluster.Node, *store.Network, error) {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	if c == nil {
		return nil, nil, notFound("network %s not found", name)
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, nil, err
	}
	n := st.NetworkByName(name)
	if n == nil {
		return nil, nil, notFound("network %s not found", name)
	}
	return c, n, nil
}

// removeClusterNetwork removes a cluster network everywhere; the managers
// refuse while it has endpoints anywhere.
func (d *Daemon) removeClusterNetwork(ctx context.Context, name string) error {
	c, n, err := d.clusterNetwork(ctx, name)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, store.Command{Op: store.OpRemoveNetwork, NetworkID: n.ID}, nil); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if local, ok := d.st.Networks[name]; ok && local.Cluster {
		delete(d.st.Networks, name)
		d.stopNetwork(local)
		d.followInterestLocked()
		return d.save()
	}
	return nil
}

// attachCluster attaches a namespace to a cluster network: an address from
// the managers, the network's bridge and TAP here if this is its first
// container on this node, the veth, and an endpoint record in gossip. The
// managers are asked before the daemon's lock is taken, and the address is
// given back on every failure after that.
func (d *Daemon) attachCluster(ctx context.Context, req api.Attach) (api.Endpoint, error) {
	c, n, err := d.clusterNetwork(ctx, req.Network)
	if err != nil {
		return api.Endpoint{}, err
	}
	if !n.Attachable {
		return api.Endpoint{}, badRequest("network %s is not attachable: create it with --attachable", n.Name)
	}
	if err := checkNames(req.Name, req.Aliases); err != nil {
		return api.Endpoint{}, err
	}
	ep := &endpoint{ID: randomID(), Name: req.Name, Netns: links.NetnsPath(req.Netns), MAC: randomMAC().String(), Aliases: req.Aliases}
	if err := d.checkNetns(ep); err != nil {
		return api.Endpoint{}, err
	}
	alloc := &store.Allocation{EndpointID: ep.ID, NetworkID: n.ID, Node: c.ID(), Name: req.Name, MAC: ep.MAC, Aliases: req.Aliases}
	if req.IP != "" {
		if alloc.IP, err = netip.ParseAddr(req.IP); err != nil {
			return api.Endpoint{}, badRequest("invalid address %q: %v", req.IP, err)
		}
	}
	if d.attachedTo(n.Name, ep.NetnsID) {
		return api.Endpoint{}, conflict("%s is already attached to %s", ep.Netns, n.Name)
	}
	var got store.Allocation
	if err := c.Apply(ctx, store.Command{Op: store.OpAllocate, Allocation: alloc}, &got); err != nil {
		return api.Endpoint{}, err
	}
	ep.IP, ep.HostIf = got.IP, "wv"+ep.ID[:10]
	release := func() { d.release(c, ep.ID) }
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c || d.clusterOp != "" {
		release()
		return api.Endpoint{}, conflict("this node left the cluster during the attach")
	}
	if local, ok := d.st.Networks[n.Name]; ok && local.ID == n.ID && findEndpointByID(local, ep.NetnsID) != nil {
		release()
		return api.Endpoint{}, conflict("%s is already attached to %s", ep.Netns, n.Name)
	}
	local, err := d.ensureClusterNetwork(n)
	d.seedKeys(n)
	if err == nil {
		err = plumb(local, ep)
	}
	if err != nil {
		release()
		return api.Endpoint{}, fmt.Errorf("attach %s to %s: %w", ep.displayName(), n.Name, err)
	}
	local.Endpoints[ep.ID] = ep
	if err := d.save(); err != nil {
		delete(local.Endpoints, ep.ID)
		_ = links.Delete(ep.HostIf)
		release()
		return api.Endpoint{}, err
	}
	d.publish(c, local, ep)
	d.log.Info("attached", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "mac", ep.MAC, "container", ep.Name)
	return d.attached(local, ep), nil
}

// attachedTo reports whether a namespace is already on this node's copy of
// a network.
func (d *Daemon) attachedTo(network, netnsID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	local, ok := d.st.Networks[network]
	return ok && findEndpointByID(local, netnsID) != nil
}

func findEndpointByID(n *netState, netnsID string) *endpoint {
	for _, ep := range n.Endpoints {
		if ep.NetnsID == netnsID {
			return ep
		}
	}
	return nil
}

// ensureClusterNetwork returns this node's copy of a cluster network,
// building its bridge and TAP on first use. A copy of an earlier network of
// the same name or VNI that has no containers here is replaced. The caller
// holds d.mu.
func (d *Daemon) ensureClusterNetwork(n *store.Network) (*netState, error) {
	for name, o := range d.st.Networks {
		if o.Cluster && o.ID == n.ID {
			return o, nil
		}
		if name != n.Name && o.VNI != n.VNI {
			continue
		}
		if !o.Cluster || len(o.Endpoints) > 0 {
			return nil, conflict("network %s (VNI %d) on this node is in the way of cluster network %s (VNI %d): %s", name, o.VNI, n.Name, n.VNI, endpointList(o))
		}
		delete(d.st.Networks, name)
		d.stopNetwork(o)
	}
	local := &netState{
		ID: n.ID, Name: n.Name, VNI: n.VNI, Subnet: n.Subnet, Gateway: n.Gateway, MTU: n.MTU,
		Created: n.Created, Endpoints: map[string]*endpoint{}, Cluster: true, Encrypted: n.Encrypted,
	}
	if err := d.startNetwork(local); err != nil {
		return nil, err
	}
	d.st.Networks[n.Name] = local
	d.followInterestLocked()
	d.scheduleReconcile(n.ID)
	return local, nil
}

// followInterestLocked tells gossip which cluster networks this node has,
// so that it receives the records of exactly those. The caller holds d.mu.
func (d *Daemon) followInterestLocked() {
	if d.cl == nil {
		return
	}
	var ids []string
	for _, n := range d.st.Networks {
		if n.Cluster {
			ids = append(ids, n.ID)
		}
	}
	d.cl.Agent().SetInterest(ids)
}

// publish gossips an endpoint's record. The caller holds d.mu.
func (d *Daemon) publish(c *cluster.Node, n *netState, ep *endpoint) {
	mac, _ := fdb.ParseMAC(ep.MAC)
	c.Agent().Publish(gossip.Record{
		EndpointID: ep.ID, Network: n.ID, VNI: n.VNI, IP: ep.IP, MAC: mac, VTEP: d.dataAddr,
		Name: ep.Name, Aliases: ep.Aliases, Boot: d.boot, KeyGen: d.advertised[n.ID],
	})
}

// releaseCluster withdraws a detached endpoint's record and gives its
// address back.
func (d *Daemon) releaseCluster(c *cluster.Node, ep *endpoint) {
	c.Agent().Withdraw(ep.ID)
	d.release(c, ep.ID)
}

// release gives an endpoint's address back to the managers, with its own
// deadline so that a caller's cancelled request does not leak the address.
// A manager that cannot be reached is logged: the address stays taken until
// the node is removed, which is safer than reusing it.
func (d *Daemon) release(c *cluster.Node, endpointID string) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := c.Apply(ctx, store.Command{Op: store.OpRelease, EndpointID: endpointID}, nil); err != nil {
		d.log.Warn("address not released", "endpoint", endpointID, "err", err)
	}
}

// describeCluster renders a cluster network with this node's containers and
// the VTEPs that have endpoints on it.
func (d *Daemon) describeCluster(n *store.Network) api.Network {
	out := api.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "cluster", Driver: "weft", VNI: n.VNI, MTU: n.MTU,
		Attachable: n.Attachable, Internal: n.Internal, Encrypted: n.Encrypted, Bridge: links.BridgeName(n.VNI),
		IPAM:       api.IPAM{Config: []api.IPAMConfig{{Subnet: n.Subnet.String()}}},
		Options:    map[string]string{"weft.vni": fmt.Sprint(n.VNI), "com.docker.network.driver.mtu": fmt.Sprint(n.MTU)},
		Peers:      []string{},
		Containers: map[string]api.Endpoint{},
	}
	for k, v := range n.Options {
		out.Options[k] = v
	}
	if _, ok := out.Options["encrypted"]; n.Encrypted && !ok {
		out.Options["encrypted"] = "" // as docker network inspect shows it
	}
	if n.Gateway.IsValid() {
		out.IPAM.Config[0].Gateway = n.Gateway.String()
	}
	if n.IPRange.IsValid() {
		out.IPAM.Config[0].IPRange = n.IPRange.String()
	}
	d.mu.Lock()
	if local, ok := d.st.Networks[n.Name]; ok {
		for id, ep := range local.Endpoints {
			out.Containers[id] = ep.describe(local)
		}
	}
	c := d.cl
	d.mu.Unlock()
	if c != nil {
		for _, p := range d.peersOf(c, n.ID) {
			out.Peers = append(out.Peers, p.String())
		}
	}
	return out
}

// peersOf lists the VTEPs other than this one with endpoints on a network.
func (d *Daemon) peersOf(c *cluster.Node, networkID string) []netip.AddrPort {
	var peers []netip.AddrPort
	for _, r := range c.Agent().Records(networkID) {
		if r.Node != c.ID() && !slices.Contains(peers, r.VTEP) {
			peers = append(peers, r.VTEP)
		}
	}
	slices.SortFunc(peers, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return peers
}

// gossipHandler turns gossip events into data-plane updates.
type gossipHandler struct{ d *Daemon }

// RecordsChanged implements gossip.Handler.
func (h gossipHandler) RecordsChanged(network string) { h.d.scheduleReconcile(network) }

// MemberChanged implements gossip.Handler.
func (h gossipHandler) MemberChanged(m gossip.Member) {
	h.d.log.Info("cluster member changed", "node", m.ID, "state", m.State, "addr", m.Addr)
}

// scheduleReconcile asks the reconciler to bring a network's data plane in
// line with its records. It never blocks.
func (d *Daemon) scheduleReconcile(networkID string) {
	d.recMu.Lock()
	d.recPending[networkID] = true
	d.recMu.Unlock()
	select {
	case d.recKick <- struct{}{}:
	default:
	}
}

// reconcileLoop programs the data plane of cluster networks from gossip, on
// every change and every few seconds as a safety net, until stop closes.
func (d *Daemon) reconcileLoop(stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-d.recKick:
		case <-tick.C:
			d.pruneGone()
			d.mu.Lock()
			for _, n := range d.st.Networks {
				if n.Cluster {
					d.scheduleReconcile(n.ID)
				}
			}
			d.mu.Unlock()
		}
		d.recMu.Lock()
		pending := d.recPending
		d.recPending = map[string]bool{}
		d.recMu.Unlock()
		for id := range pending {
			d.reconcile(id)
		}
		d.answerKeyQueries()
	}
}

// every calls f every period until stop closes.
func every(stop <-chan struct{}, period time.Duration, f func()) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			f()
		}
	}
}

// followCluster tears down this node's copies of networks the cluster
// removed, once no container of this node is on them. The cluster node
// calls it after each poll of the managers, from its own goroutine.
func (d *Daemon) followCluster(c *cluster.Node, st *store.State) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != c {
		return
	}
	changed := false
	for name, n := range d.st.Networks {
		if n.Cluster && len(n.Endpoints) == 0 && st.Networks[n.ID] == nil {
			delete(d.st.Networks, name)
			d.stopNetwork(n)
			changed = true
			d.log.Info("removed network torn down", "network", name, "vni", n.VNI)
		}
	}
	if changed {
		d.followInterestLocked()
		_ = d.save()
	}
}

// reconcile makes one network's peers and FDB match the records of the
// other nodes: a MAC → VTEP and an IP → MAC entry for each remote endpoint,
// and broadcast replicated to exactly the VTEPs that have endpoints. What it
// installed is remembered per start of the network (its epoch), so a network
// built again starts from nothing.
func (d *Daemon) reconcile(networkID string) {
	d.mu.Lock()
	c, vni, epoch := d.cl, uint32(0), uint64(0)
	var local *netState
	for _, n := range d.st.Networks {
		if n.Cluster && n.ID == networkID {
			vni, epoch, local = n.VNI, n.epoch, n
		}
	}
	d.mu.Unlock()
	if c == nil || vni == 0 {
		delete(d.installed, networkID)
		d.dropSAs(networkID)
		d.dns.RemoveZone(networkID)
		return
	}
	recs := c.Agent().Records(networkID)
	d.setClusterZone(networkID, epoch, recs)
	if local.Encrypted {
		d.installSAs(c, local, epoch, recs)
	}
	next := map[string]gossip.Record{}
	macs := map[fdb.MAC]bool{}
	for _, r := range recs {
		if r.Node != c.ID() {
			next[r.EndpointID] = r
			macs[r.MAC] = true
		}
	}
	prev := d.installed[networkID]
	if prev.epoch != epoch {
		prev = installedSet{}
	}
	for id, old := range prev.records {
		if r, ok := next[id]; ok && r.MAC == old.MAC && r.IP == old.IP && r.VTEP == old.VTEP {
			continue
		}
		if !macs[old.MAC] {
			d.fdb.Delete(vni, old.MAC)
		}
		if mac, ok := d.fdb.LookupIP(vni, old.IP); ok && mac == old.MAC {
			d.fdb.DeleteIP(vni, old.IP) // only while it still names the old owner
		}
	}
	for id, r := range next {
		if old, ok := prev.records[id]; !ok || r.MAC != old.MAC || r.IP != old.IP || r.VTEP != old.VTEP {
			d.fdb.AddStatic(vni, r.MAC, r.VTEP)
			d.fdb.AddStaticIP(vni, r.IP, r.MAC)
			// A container here may still map this address to its previous
			// owner's MAC; tell it who has the address now.
			if err := d.engine.Announce(vni, r.IP, r.MAC); err != nil {
				d.log.Debug("announce failed", "network", networkID, "ip", r.IP, "err", err)
			}
		}
	}
	d.installed[networkID] = installedSet{epoch: epoch, records: next}
	if err := d.engine.SetPeers(vni, d.peersOf(c, networkID)); err != nil {
		d.log.Debug("peers not set", "network", networkID, "err", err)
	}
}

// setClusterZone gives the resolver the names of a cluster network's
// endpoints, this node's included, unless the network was rebuilt or
// removed since the records were read.
func (d *Daemon) setClusterZone(networkID string, epoch uint64, recs []gossip.Record) {
	zrecs := make([]zoneRecord, len(recs))
	for i, r := range recs {
		zrecs[i] = zoneRecord{Name: r.Name, Aliases: r.Aliases, IP: r.IP}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.st.Networks {
		if n.Cluster && n.ID == networkID && n.epoch == epoch {
			d.dns.SetZone(clusterZone(n, zrecs))
			return
		}
	}
}

// installedSet is what reconcile programmed for one start of a network.
type installedSet struct {
	epoch   uint64
	records map[string]gossip.Record
}

// republish gossips this node's networks and endpoints again after a
// restart and programs every cluster network.
func (d *Daemon) republish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.followInterestLocked()
	for _, n := range d.st.Networks {
		if !n.Cluster {
			continue
		}
		for _, ep := range n.Endpoints {
			d.publish(d.cl, n, ep)
		}
		d.scheduleReconcile(n.ID)
	}
}

// Nodes lists the cluster's nodes with their status as this node sees it.
func (d *Daemon) Nodes(ctx context.Context) ([]api.Node, error) {
	d.mu.Lock()
	c := d.cl
	d.mu.Unlock()
	if c == nil {
		return nil, errNoCluster()
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		d.log.Debug("no leader known", "err", err)
	}
	alive := map[string]bool{}
	for _, m := range c.Agent().Members() {
		alive[m.ID] = m.State == gossip.StateAlive || m.State == gossip.StateSuspect
	}
	var out []api.Node
	for _, n := range st.Nodes {
		node := api.Node{ID: n.ID, Hostname: n.Hostname, Role: string(n.Role), Addr: n.Addr.String(), DataAddr: n.DataAddr.String(), Self: n.ID == c.ID(), Status: "Down"}
		if node.Self || alive[n.ID] {
			node.Status = "Ready"
		}
		if n.Role == pki.RoleManager {
			switch {
			case n.ID == leader.ID:
				node.ManagerStatus = "Leader"
			case node.Status == "Ready":
				node.ManagerStatus = "Reachable"
			default:
				node.ManagerStatus = "Unreachable"
			}
		}
		out = append(out, node)
	}
	slices.SortFunc(out, func(a, b api.Node) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
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
