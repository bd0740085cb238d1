package daemon

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/dockerfw"
	"github.com/weftnet/weft/daemon/dockerplugin"
	"github.com/weftnet/weft/daemon/dockersync"
	"github.com/weftnet/weft/daemon/links"
)

// dockerBackend is weftd as its Docker plugin sees it: the cluster's
// networks, and Docker containers' endpoints, which are cluster endpoints
// whose container end Docker moves.
type dockerBackend struct{ d *Daemon }

var _ dockerplugin.Backend = dockerBackend{}

// Networks lists the cluster's networks; none outside a cluster.
func (b dockerBackend) Networks(ctx context.Context) ([]dockerplugin.Network, error) {
	c, _ := b.d.member.Current()
	if c == nil {
		return nil, nil
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dockerplugin.Network, 0, len(st.Networks))
	for _, n := range st.Networks {
		out = append(out, dockerNetwork(n))
	}
	return out, nil
}

func dockerNetwork(n *store.Network) dockerplugin.Network {
	return dockerplugin.Network{
		ID: n.ID, Name: n.Name, Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange, MTU: n.MTU,
		Internal: n.Internal, Attachable: n.Attachable, Encrypted: n.Encrypted,
	}
}

// Manage refuses outside a cluster and on a worker.
func (b dockerBackend) Manage(context.Context) error {
	c, _ := b.d.member.Current()
	switch {
	case c == nil:
		return api.NoCluster()
	case !c.IsManager():
		return notManager("create or remove")
	}
	return nil
}

// FreeSubnet returns the subnet the managers would give a new network.
func (b dockerBackend) FreeSubnet(ctx context.Context) (netip.Prefix, error) {
	c, _ := b.d.member.Current()
	if c == nil {
		return netip.Prefix{}, api.NoCluster()
	}
	st, err := c.State(ctx)
	if err != nil {
		return netip.Prefix{}, err
	}
	return st.FreeSubnet()
}

// CreateNetwork creates a cluster network, as weft network create does.
func (b dockerBackend) CreateNetwork(ctx context.Context, req api.NetworkCreate) error {
	_, err := b.d.createClusterNetwork(ctx, req)
	return err
}

// RemoveNetwork removes a cluster network, as weft network rm does.
func (b dockerBackend) RemoveNetwork(ctx context.Context, name string) error {
	return b.d.removeClusterNetwork(ctx, name)
}

// Reserve allocates an address as a cluster attach does, and plumbs a veth
// whose container end stays on the host for Docker.
func (b dockerBackend) Reserve(ctx context.Context, networkID string, ip netip.Addr, mac net.HardwareAddr) (dockerplugin.Endpoint, error) {
	d := b.d
	c, _ := d.member.Current()
	if c == nil {
		return dockerplugin.Endpoint{}, api.NoCluster()
	}
	st, err := c.State(ctx)
	if err != nil {
		return dockerplugin.Endpoint{}, err
	}
	n := st.Networks[networkID]
	if n == nil {
		return dockerplugin.Endpoint{}, notFound("network with ID %s not found", networkID)
	}
	ep := &endpoint{ID: randomID(), MAC: mac.String(), Docker: true}
	ep.NetnsID = "docker/" + ep.ID
	d.mu.Lock()
	d.attaching[ep.ID] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.attaching, ep.ID)
		d.mu.Unlock()
	}()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), allocateTimeout)
	defer cancel()
	var got store.Allocation
	alloc := &store.Allocation{EndpointID: ep.ID, NetworkID: n.ID, Node: c.ID(), MAC: ep.MAC, IP: ip}
	if err := c.Apply(actx, store.Command{Op: store.OpAllocate, Allocation: alloc}, &got); err != nil {
		return dockerplugin.Endpoint{}, err
	}
	ep.IP, ep.HostIf = got.IP, "wv"+ep.ID[:10]
	if _, err := d.plumbCluster(c, d.withKeys(actx, n), ep, api.Attach{}); err != nil { // Docker publishes no ports through weft
		d.member.Release(c, ep.ID) // outside d.mu: it waits on the managers
		return dockerplugin.Endpoint{}, err
	}
	return describeDocker(n.ID, n.Subnet, ep), nil
}

func describeDocker(networkID string, subnet netip.Prefix, ep *endpoint) dockerplugin.Endpoint {
	mac, _ := net.ParseMAC(ep.MAC)
	return dockerplugin.Endpoint{
		ID: ep.ID, Docker: ep.DockerID, NetworkID: networkID, Addr: netip.PrefixFrom(ep.IP, subnet.Bits()), MAC: mac, SrcName: ep.IfName,
	}
}

// Bind records Docker's endpoint ID on the endpoint Reserve made for ip.
func (b dockerBackend) Bind(networkID string, ip netip.Addr, docker string) (dockerplugin.Endpoint, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ep := d.findDockerLocked(func(n *netState, ep *endpoint) bool { return n.ID == networkID && ep.IP == ip })
	switch {
	case ep == nil:
		return dockerplugin.Endpoint{}, notFound("no address %s was reserved on this node for a Docker container", ip)
	case ep.DockerID != "" && ep.DockerID != docker:
		return dockerplugin.Endpoint{}, conflict("address %s is already Docker endpoint %s's", ip, ep.DockerID)
	}
	ep.DockerID = docker
	if err := d.save(); err != nil {
		ep.DockerID = ""
		return dockerplugin.Endpoint{}, err
	}
	return describeDocker(n.ID, n.Subnet, ep), nil
}

// Endpoint finds a Docker container's endpoint by Docker's ID.
func (b dockerBackend) Endpoint(docker string) (dockerplugin.Endpoint, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ep := d.findDockerLocked(func(_ *netState, ep *endpoint) bool { return ep.DockerID == docker })
	if ep == nil {
		return dockerplugin.Endpoint{}, notFound("Docker endpoint %s has no weft endpoint on this node", docker)
	}
	return describeDocker(n.ID, n.Subnet, ep), nil
}

// Delete removes the endpoint of Docker's ID.
func (b dockerBackend) Delete(docker string) error {
	return b.remove(func(_ *netState, ep *endpoint) bool { return ep.DockerID == docker })
}

// Unreserve removes the endpoint Reserve made for ip that Docker never
// bound.
func (b dockerBackend) Unreserve(networkID string, ip netip.Addr) error {
	return b.remove(func(n *netState, ep *endpoint) bool { return n.ID == networkID && ep.IP == ip && ep.DockerID == "" })
}

// remove deletes the matching Docker endpoint's veth and forgets it, then
// withdraws its record and gives its address back. None matching is not
// an error: Docker repeats removals after restarts.
func (b dockerBackend) remove(match func(*netState, *endpoint) bool) error {
	d := b.d
	c, _ := d.member.Current()
	d.mu.Lock()
	n, ep := d.findDockerLocked(match)
	if ep == nil {
		d.mu.Unlock()
		return nil
	}
	if err := links.Delete(ep.HostIf); err != nil {
		d.mu.Unlock()
		return err
	}
	delete(n.Endpoints, ep.ID)
	err := d.save()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.log.Info("detached", "network", n.Name, "ip", ep.IP, "docker_endpoint", ep.DockerID)
	if c != nil {
		d.member.Withdraw(c, ep.ID) // outside d.mu: it waits on the managers
	}
	return nil
}

// findDockerLocked returns the first Docker endpoint, and its network,
// that match. The caller holds d.mu.
func (d *Daemon) findDockerLocked(match func(*netState, *endpoint) bool) (*netState, *endpoint) {
	for _, n := range d.st.Networks {
		for _, ep := range n.Endpoints {
			if ep.Docker && match(n, ep) {
				return n, ep
			}
		}
	}
	return nil, nil
}

// dockerServer listens on the Docker plugin socket and returns the
// plugin's server, and starts the Docker network sync, which runs until
// the daemon stops. It returns nil when the Docker integration is off:
// no socket configured, or one that cannot be listened on (logged once;
// weftd runs on without it).
func (d *Daemon) dockerServer() (*http.Server, net.Listener) {
	if d.cfg.DockerPluginSocket == "" {
		d.log.Info("docker integration off: no docker plugin socket configured")
		return nil, nil
	}
	engine, err := dockersync.NewClient(d.cfg.DockerHost)
	var ln net.Listener
	if err == nil {
		ln, err = listenUnix(d.cfg.DockerPluginSocket)
	}
	if err != nil {
		d.log.Warn("docker integration off", "socket", d.cfg.DockerPluginSocket, "err", err)
		return nil, nil
	}
	p := dockerplugin.New(dockerBackend{d}, d.log)
	sync := dockersync.New(dockersync.Config{Engine: engine, Weft: dockerBackend{d}, Plugin: p, Host: d.cfg.DockerHost, Log: d.log,
		Firewall: d.dockerFirewall, Names: dockerBackend{d}, Askers: d.startDockerDNS()})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-d.stop
		cancel()
	}()
	go sync.Run(ctx)
	d.log.Info("docker plugin serving", "socket", d.cfg.DockerPluginSocket, "docker_host", d.cfg.DockerHost)
	return &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}, ln
}

// dockerFirewall keeps weft's rules in Docker's DOCKER-USER chain: the
// bridges of the networks with a way out are read under d.mu, the chain
// is changed after.
func (d *Daemon) dockerFirewall() (changed bool, err error) {
	d.mu.Lock()
	var bridges []string
	for _, n := range d.st.Networks {
		if en := n.egressNetwork(); en.WayOut() {
			bridges = append(bridges, en.Bridge)
		}
	}
	d.mu.Unlock()
	return dockerfw.Sync(bridges)
}
