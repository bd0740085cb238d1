package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/reconcile"
	"github.com/weftnet/weft/daemon/request"
	"github.com/weftnet/weft/fdb"
)

// createClusterNetwork asks the managers for a cluster-wide network.
func (d *Daemon) createClusterNetwork(ctx context.Context, req api.NetworkCreate) (api.Network, error) {
	c, _ := d.member.Current()
	d.mu.Lock()
	o, ok := d.st.Networks[req.Name]
	local := ok && !o.Cluster
	d.mu.Unlock()
	switch {
	case c == nil:
		return api.Network{}, api.NoCluster()
	case local:
		return api.Network{}, conflict("network %s already exists", req.Name)
	case !c.IsManager():
		return api.Network{}, notManager("create")
	}
	if err := request.NetworkName(req.Name); err != nil {
		return api.Network{}, err
	}
	n := &store.Network{ID: randomID(), Name: req.Name, Attachable: req.Attachable, Internal: req.Internal, Encrypted: request.Encrypted(req), Options: req.Options, Created: time.Now().UTC()}
	var err error
	if n.Subnet, n.Gateway, n.IPRange, err = request.ClusterAddrs(req); err != nil {
		return api.Network{}, err
	}
	if n.MTU, err = d.host.MTU(req.MTU, n.Encrypted); err != nil {
		return api.Network{}, err
	}
	var out store.Network
	if err := c.Apply(ctx, store.Command{Op: store.OpCreateNetwork, Network: n}, &out); err != nil {
		return api.Network{}, err
	}
	d.log.Info("cluster network created", "network", out.Name, "vni", out.VNI, "subnet", out.Subnet)
	return d.describeCluster(&out), nil
}

// removeClusterNetwork removes a cluster network everywhere; the managers
// refuse while it has endpoints anywhere.
func (d *Daemon) removeClusterNetwork(ctx context.Context, name string) error {
	c, n, err := d.member.Network(ctx, name)
	if err != nil {
		return err
	}
	if !c.IsManager() {
		return notManager("remove")
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

// notManager is the refusal of a cluster network's creation or removal on
// a worker: managers only manage networks, as in Docker.
func notManager(verb string) error {
	return badRequest("this node is not a manager: worker nodes cannot %s cluster networks; run this command on a manager node", verb)
}

// allocateTimeout bounds an attach's allocation, which does not end with
// the client's request.
const allocateTimeout = 30 * time.Second

// attachCluster attaches a namespace to a cluster network: an address from
// the managers, the network's bridge and TAP here if this is its first
// container on this node, the veth, and an endpoint record in gossip. The
// managers are asked before the daemon's lock is taken, and the address is
// given back, with the lock released, on every failure after that.
func (d *Daemon) attachCluster(ctx context.Context, req api.Attach) (api.Endpoint, error) {
	c, n, err := d.member.Network(ctx, req.Network)
	if err != nil {
		return api.Endpoint{}, err
	}
	if !n.Attachable {
		return api.Endpoint{}, badRequest("network %s is not attachable: create it with --attachable", n.Name)
	}
	if err := request.Names(req.Name, req.Aliases); err != nil {
		return api.Endpoint{}, err
	}
	if _, err := publishable(n.Name, n.Gateway.IsValid() && !n.Internal, req.Publish); err != nil {
		return api.Endpoint{}, err // before an address is taken; the ports are checked against the others in plumbCluster
	}
	ep := &endpoint{ID: randomID(), Name: req.Name, Netns: links.NetnsPath(req.Netns), MAC: randomMAC().String(), Aliases: req.Aliases}
	if err := ep.setContainer(req); err != nil {
		return api.Endpoint{}, err
	}
	if err := ep.checkNetns(); err != nil {
		return api.Endpoint{}, err
	}
	alloc := &store.Allocation{EndpointID: ep.ID, NetworkID: n.ID, Node: c.ID(), Name: req.Name, MAC: ep.MAC, Aliases: req.Aliases}
	if req.IP != "" {
		if alloc.IP, err = netip.ParseAddr(req.IP); err != nil {
			return api.Endpoint{}, badRequest("invalid address %q: %v", req.IP, err)
		}
	}
	d.mu.Lock()
	local, ok := d.st.Networks[n.Name]
	var already error
	if ok {
		already = containerConflict(local, ep)
	}
	if already == nil {
		d.attaching[ep.ID] = true
	}
	d.mu.Unlock()
	if already != nil {
		return api.Endpoint{}, already
	}
	defer func() {
		d.mu.Lock()
		delete(d.attaching, ep.ID)
		d.mu.Unlock()
	}()
	// The client going away must not cut the allocation off half way: it
	// runs to its end, and the attach with it, or the address goes back.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), allocateTimeout)
	defer cancel()
	var got store.Allocation
	if err := c.Apply(actx, store.Command{Op: store.OpAllocate, Allocation: alloc}, &got); err != nil {
		return api.Endpoint{}, err
	}
	ep.IP, ep.HostIf = got.IP, "wv"+ep.ID[:10]
	out, err := d.plumbCluster(c, d.withKeys(actx, n), ep, req)
	if err != nil {
		d.member.Release(c, ep.ID) // outside d.mu: it waits on the managers
		return api.Endpoint{}, err
	}
	return out, nil
}

// withKeys returns an encrypted network with its data keys, read again
// now that this node holds an address on it: a worker is given the keys of
// only such networks, so the copy read before the allocation may have
// none. If the managers cannot say, n is returned as it is, and the
// reconciler's key loop brings the keys within a poll.
func (d *Daemon) withKeys(ctx context.Context, n *store.Network) *store.Network {
	if !n.Encrypted || len(n.Keys) > 0 {
		return n
	}
	if _, fresh, err := d.member.Network(ctx, n.Name); err == nil && fresh.ID == n.ID {
		return fresh
	}
	return n
}

// plumbCluster gives an endpoint that has its address from c its link on
// this node's copy of cluster network n, saves it and gossips its record;
// on error nothing of it is left here, and the caller gives the address
// back.
func (d *Daemon) plumbCluster(c *cluster.Node, n *store.Network, ep *endpoint, req api.Attach) (api.Endpoint, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now, _ := d.member.Current(); now != c || d.member.Busy() != "" {
		return api.Endpoint{}, conflict("this node left the cluster during the attach")
	}
	if local, ok := d.st.Networks[n.Name]; ok && local.ID == n.ID {
		if err := containerConflict(local, ep); err != nil {
			return api.Endpoint{}, err
		}
	}
	local, err := d.ensureClusterNetwork(n)
	if err == nil {
		ep.Published, err = d.publishLocked(local, req)
	}
	if err == nil {
		err = plumb(local, ep)
	}
	if err != nil {
		return api.Endpoint{}, fmt.Errorf("attach %s to %s: %w", ep.displayName(), n.Name, err)
	}
	local.Endpoints[ep.ID] = ep
	if err := d.save(); err != nil {
		delete(local.Endpoints, ep.ID)
		_ = links.Delete(ep.HostIf)
		return api.Endpoint{}, err
	}
	d.publish(local, ep)
	d.log.Info("attached", "network", n.Name, "netns", ep.Netns, "ip", ep.IP, "mac", ep.MAC, "container", ep.Name)
	return d.attached(local, ep), nil
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
		Created: n.Created, Endpoints: map[string]*endpoint{}, Cluster: true, Encrypted: n.Encrypted, Internal: n.Internal,
	}
	if err := d.startNetwork(local); err != nil {
		return nil, err
	}
	d.st.Networks[n.Name] = local
	d.followInterestLocked()
	if _, rec := d.member.Current(); rec != nil {
		rec.SetKeys(n.ID, n.Keys) // the managers' copy: no need to wait for the next poll
	}
	return local, nil
}

// followInterestLocked tells gossip which cluster networks this node has,
// so that it receives the records of exactly those. The caller holds d.mu.
func (d *Daemon) followInterestLocked() {
	c, _ := d.member.Current()
	if c == nil {
		return
	}
	var ids []string
	for _, n := range d.st.Networks {
		if n.Cluster {
			ids = append(ids, n.ID)
		}
	}
	c.Agent().SetInterest(ids)
}

// publish gossips an endpoint's record, with the newest data key
// generation this node opens on its network. The caller holds d.mu, and
// this node is in a cluster.
func (d *Daemon) publish(n *netState, ep *endpoint) {
	mac, _ := fdb.ParseMAC(ep.MAC)
	c, rec := d.member.Current()
	c.Agent().Publish(gossip.Record{
		EndpointID: ep.ID, Network: n.ID, VNI: n.VNI, IP: ep.IP, MAC: mac, VTEP: d.host.DataAddr,
		Name: ep.Name, Aliases: ep.Aliases, Boot: d.boot, KeyGen: rec.KeyGen(n.ID),
	})
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
	d.mu.Unlock()
	if c, _ := d.member.Current(); c != nil {
		for _, p := range reconcile.Peers(c.ID(), c.Agent().Records(n.ID)) {
			out.Peers = append(out.Peers, p.String())
		}
	}
	return out
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
// removed, once no container of this node is on them, and gives back the
// addresses the managers hold for this node that no endpoint saved here
// has (see strayAllocations). The cluster node calls it after each poll of
// the managers, from its own goroutine.
func (d *Daemon) followCluster(c *cluster.Node, st *store.State) {
	d.mu.Lock()
	if now, _ := d.member.Current(); now != c {
		d.mu.Unlock()
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
	stray := d.strayAllocationsLocked(c.ID(), st)
	d.mu.Unlock()
	for _, a := range stray {
		d.log.Warn("address held for no endpoint of this node, releasing it", "endpoint", a.EndpointID,
			"container", a.Name, "network_id", a.NetworkID, "ip", a.IP)
		d.member.Release(c, a.EndpointID) // outside d.mu: it waits on the managers
	}
}

// strayAllocationsLocked returns the allocations of st that node holds for
// endpoints this node has not saved and is not attaching: those of an
// attach that crashed or was cut off between its allocation and its save,
// or of a detach that crashed before it gave the address back. An
// allocation made after st was read is not in it, and one in st whose
// attach has ended since is saved or given back by then, so none of them
// is taken from an attach. The caller holds d.mu.
func (d *Daemon) strayAllocationsLocked(node string, st *store.State) []*store.Allocation {
	saved := map[string]bool{}
	for _, n := range d.st.Networks {
		if n.Cluster {
			for id := range n.Endpoints {
				saved[id] = true
			}
		}
	}
	var out []*store.Allocation
	for _, a := range st.NodeAllocations(node) {
		if !saved[a.EndpointID] && !d.attaching[a.EndpointID] {
			out = append(out, a)
		}
	}
	return out
}

// republish gossips this node's networks and endpoints again after a
// restart.
func (d *Daemon) republish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.followInterestLocked()
	for _, n := range d.st.Networks {
		if n.Cluster {
			for _, ep := range n.Endpoints {
				d.publish(n, ep)
			}
		}
	}
}
