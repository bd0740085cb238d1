package dockerplugin

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/request"
)

// pendingPool is a Docker network being created with docker network
// create, whose weft network the sync creates once the engine shows its
// name.
type pendingPool struct {
	subnet  netip.Prefix
	ipRange netip.Prefix // invalid: the whole subnet
	gateway netip.Addr   // set when Docker asks for it
	// Set by CreateNetwork, from the -o options and flags.
	mtu       int
	encrypted bool
	internal  bool
	options   map[string]string
}

// newPool checks that this node may create a cluster network and that the
// subnet is free, and holds it for the network being created.
func (p *Plugin) newPool(ctx context.Context, pool, subPool string) (*pendingPool, error) {
	if err := p.backend.Manage(ctx); err != nil {
		return nil, err
	}
	pp := &pendingPool{}
	var err error
	if pool == "" {
		pp.subnet, err = p.backend.FreeSubnet(ctx)
	} else if pp.subnet, err = netip.ParsePrefix(pool); err != nil {
		err = api.BadRequest("invalid --subnet %q: %v", pool, err)
	}
	if err != nil {
		return nil, err
	}
	if subPool != "" {
		if pp.ipRange, err = netip.ParsePrefix(subPool); err != nil || !pp.subnet.Contains(pp.ipRange.Addr()) || pp.ipRange.Bits() < pp.subnet.Bits() {
			return nil, api.BadRequest("--ip-range %q is not a CIDR inside the subnet %s", subPool, pp.subnet)
		}
	}
	if err := p.checkFree(ctx, pp.subnet); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.pools {
		if s.Overlaps(pp.subnet) {
			return nil, api.Conflict("subnet %s overlaps subnet %s of a network being created", pp.subnet, s)
		}
	}
	p.pools[pp.subnet] = pp
	return pp, nil
}

// checkFree refuses a subnet that overlaps a weft network's.
func (p *Plugin) checkFree(ctx context.Context, subnet netip.Prefix) error {
	nets, err := p.backend.Networks(ctx)
	if err != nil {
		return err
	}
	for _, n := range nets {
		if n.Subnet.Overlaps(subnet) {
			return api.Conflict("subnet %s overlaps weft network %s's subnet %s (every weft network shows in docker network ls already; use it by its name)", subnet, n.Name, n.Subnet)
		}
	}
	return nil
}

// pendingGateway picks or checks the gateway of a pending network; ok is
// false when subnet is no pending network's.
func (p *Plugin) pendingGateway(subnet netip.Prefix, want netip.Addr) (gw netip.Addr, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.pools[subnet]
	if pp == nil {
		return netip.Addr{}, false, nil
	}
	switch {
	case !want.IsValid():
		pp.gateway = firstUsable(subnet)
	case !request.Usable(subnet, want):
		return netip.Addr{}, true, api.BadRequest("--gateway %s is not a usable address of the subnet %s", want, subnet)
	default:
		pp.gateway = want
	}
	return pp.gateway, true, nil
}

// adopt takes a pending pool for the Docker network docker, with the
// options it was created with. ok is false when subnet is no pending
// pool's.
func (p *Plugin) adopt(docker string, subnet netip.Prefix, opts map[string]any) (ok bool, err error) {
	generic := genericOptions(opts)
	mtu := 0
	if s, set := generic[mtuOption]; set {
		if mtu, err = strconv.Atoi(s); err != nil || mtu <= 0 {
			return true, api.BadRequest("invalid -o %s=%q: want a positive number of bytes", mtuOption, s)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.pools[subnet]
	if pp == nil {
		return false, nil
	}
	_, pp.encrypted = generic[encryptedOpt]
	pp.internal, _ = opts[internalOption].(bool)
	pp.mtu, pp.options = mtu, generic
	p.pending[docker] = pp
	return true, nil
}

// genericOptions returns the -o options of a CreateNetwork, as strings.
func genericOptions(opts map[string]any) map[string]string {
	out := map[string]string{}
	g, _ := opts[genericOption].(map[string]any)
	for k, v := range g {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// Pending lists the Docker IDs of networks created with docker network
// create here whose weft network is still to be created.
func (p *Plugin) Pending() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.pending))
	for id := range p.pending {
		out = append(out, id)
	}
	return out
}

// Complete creates the weft network of the pending Docker network docker,
// now that the engine shows its name and flags. It is forgotten either
// way: on error, the caller removes the Docker network, whose creation
// then failed.
func (p *Plugin) Complete(ctx context.Context, docker, name string, attachable, internal bool) error {
	p.mu.Lock()
	pp := p.pending[docker]
	delete(p.pending, docker)
	if pp != nil {
		delete(p.pools, pp.subnet)
	}
	p.mu.Unlock()
	if pp == nil {
		return api.NotFound("docker network %s is not being created here", docker)
	}
	req := api.NetworkCreate{
		Name: name, Subnet: pp.subnet.String(), MTU: pp.mtu, Attachable: attachable, Internal: internal || pp.internal,
		Encrypted: pp.encrypted, Options: pp.options,
	}
	if pp.gateway.IsValid() {
		req.Gateway = pp.gateway.String()
	}
	if pp.ipRange.IsValid() {
		req.IPRange = pp.ipRange.String()
	}
	if err := p.backend.CreateNetwork(ctx, req); err != nil {
		return fmt.Errorf("create weft network %s for docker network %s: %w", name, docker, err)
	}
	p.log.Info("weft network created for a docker network", "network", name, "docker_network", docker, "subnet", pp.subnet)
	return nil
}

// networkByID finds a weft network by its ID.
func (p *Plugin) networkByID(ctx context.Context, id string) (Network, error) {
	return p.findNetwork(ctx, func(n Network) bool { return n.ID == id }, "with ID "+id)
}

// networkBySubnet finds the weft network of a subnet.
func (p *Plugin) networkBySubnet(ctx context.Context, subnet netip.Prefix) (Network, error) {
	p.mu.Lock()
	_, pending := p.pools[subnet]
	p.mu.Unlock()
	if pending {
		return Network{}, api.Conflict("the weft network of subnet %s is still being created: try again in a moment", subnet)
	}
	return p.findNetwork(ctx, func(n Network) bool { return n.Subnet == subnet }, "has subnet "+subnet.String())
}

// networkOf finds the weft network whose subnet holds ip.
func (p *Plugin) networkOf(ctx context.Context, ip netip.Addr) (Network, error) {
	return p.findNetwork(ctx, func(n Network) bool { return n.Subnet.Contains(ip) }, "holds address "+ip.String())
}

func (p *Plugin) findNetwork(ctx context.Context, match func(Network) bool, what string) (Network, error) {
	nets, err := p.backend.Networks(ctx)
	if err != nil {
		return Network{}, err
	}
	for _, n := range nets {
		if match(n) {
			return n, nil
		}
	}
	return Network{}, api.NotFound("no weft network %s", what)
}
