package dockerplugin

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/request"
)

// ipamRoutes adds the IPAM driver's calls. A pool is a weft network's
// subnet, and its ID names the subnet, so that it means the same after
// weftd restarts.
func (p *Plugin) ipamRoutes(mux *http.ServeMux) {
	handle(mux, "IpamDriver.GetCapabilities", func(context.Context, struct{}) (any, error) {
		return ipamCapabilitiesResponse{RequiresMACAddress: true}, nil // the MAC goes into the cluster's allocation
	})
	handle(mux, "IpamDriver.GetDefaultAddressSpaces", func(context.Context, struct{}) (any, error) {
		return addressSpacesResponse{LocalDefaultAddressSpace: AddressSpace, GlobalDefaultAddressSpace: AddressSpace}, nil
	})
	handle(mux, "IpamDriver.RequestPool", p.requestPool)
	handle(mux, "IpamDriver.ReleasePool", func(_ context.Context, req releasePoolRequest) (any, error) {
		p.releasePool(req.PoolID)
		return nil, nil
	})
	handle(mux, "IpamDriver.RequestAddress", p.requestAddress)
	handle(mux, "IpamDriver.ReleaseAddress", p.releaseAddress)
}

const poolPrefix = "weft/"

// poolID names the pool of a subnet.
func poolID(subnet netip.Prefix) string { return poolPrefix + subnet.String() }

// parsePoolID returns the subnet a pool ID names.
func parsePoolID(id string) (netip.Prefix, error) {
	s, ok := strings.CutPrefix(id, poolPrefix)
	p, err := netip.ParsePrefix(s)
	if !ok || err != nil {
		return netip.Prefix{}, api.BadRequest("pool %q is not a weft pool", id)
	}
	return p, nil
}

// requestPool gives Docker the subnet of a weft network: the one named by
// the weft.network option (a Docker network weftd makes for a weft
// network), or a new one for a network being created with docker network
// create, which is pending until the sync creates its weft network.
func (p *Plugin) requestPool(ctx context.Context, req requestPoolRequest) (any, error) {
	if req.V6 {
		return nil, api.BadRequest("weft networks are IPv4 only: create the network without --ipv6")
	}
	if id := req.Options[NetworkOption]; id != "" {
		n, err := p.networkByID(ctx, id)
		if err != nil {
			return nil, err
		}
		return requestPoolResponse{PoolID: poolID(n.Subnet), Pool: n.Subnet.String()}, nil
	}
	pp, err := p.newPool(ctx, req.Pool, req.SubPool)
	if err != nil {
		return nil, err
	}
	return requestPoolResponse{PoolID: poolID(pp.subnet), Pool: pp.subnet.String()}, nil
}

// releasePool forgets a pending pool; a weft network's pool is the
// cluster's, and stays.
func (p *Plugin) releasePool(id string) {
	subnet, err := parsePoolID(id)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pools, subnet)
	for docker, pp := range p.pending {
		if pp.subnet == subnet {
			delete(p.pending, docker)
		}
	}
}

// requestAddress answers a network's gateway, or allocates an endpoint's
// address in the cluster and makes its veth.
func (p *Plugin) requestAddress(ctx context.Context, req requestAddressRequest) (any, error) {
	subnet, err := parsePoolID(req.PoolID)
	if err != nil {
		return nil, err
	}
	var want netip.Addr
	if req.Address != "" {
		if want, err = netip.ParseAddr(req.Address); err != nil {
			return nil, api.BadRequest("invalid address %q: %v", req.Address, err)
		}
	}
	if req.Options[addrTypeOption] == gatewayType {
		gw, err := p.gateway(ctx, subnet, want)
		if err != nil {
			return nil, err
		}
		return requestAddressResponse{Address: netip.PrefixFrom(gw, subnet.Bits()).String()}, nil
	}
	return p.reserve(ctx, subnet, want, req.Options[macOption])
}

// reserve allocates an endpoint's address on the network of subnet.
func (p *Plugin) reserve(ctx context.Context, subnet netip.Prefix, want netip.Addr, macText string) (any, error) {
	n, err := p.networkBySubnet(ctx, subnet)
	if err != nil {
		return nil, err
	}
	mac, err := net.ParseMAC(macText)
	if err != nil {
		return nil, api.BadRequest("Docker sent no usable MAC address (%q) with the address request: %v", macText, err)
	}
	ep, err := p.backend.Reserve(ctx, n.ID, want, mac)
	if err != nil {
		return nil, err
	}
	p.log.Info("docker endpoint address reserved", "network", n.Name, "ip", ep.Addr)
	return requestAddressResponse{Address: ep.Addr.String()}, nil
}

// gateway returns the gateway of the network of subnet, checking the one
// asked for against it, or picks that of a pending network.
func (p *Plugin) gateway(ctx context.Context, subnet netip.Prefix, want netip.Addr) (netip.Addr, error) {
	if gw, ok, err := p.pendingGateway(subnet, want); ok || err != nil {
		return gw, err
	}
	n, err := p.networkBySubnet(ctx, subnet)
	if err != nil {
		return netip.Addr{}, err
	}
	gw := n.Gateway
	if !gw.IsValid() {
		gw = firstUsable(subnet)
	}
	if want.IsValid() && want != gw {
		return netip.Addr{}, api.Conflict("network %s's gateway is %s, not %s", n.Name, gw, want)
	}
	return gw, nil
}

// releaseAddress gives back an endpoint's address that no Docker endpoint
// took; a bound endpoint's goes back with DeleteEndpoint, and a gateway is
// the network's.
func (p *Plugin) releaseAddress(ctx context.Context, req releaseAddressRequest) (any, error) {
	subnet, err := parsePoolID(req.PoolID)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(req.Address)
	if err != nil {
		return nil, api.BadRequest("invalid address %q: %v", req.Address, err)
	}
	p.mu.Lock()
	_, pending := p.pools[subnet]
	p.mu.Unlock()
	if pending {
		return nil, nil // its gateway: nothing is allocated before the network exists
	}
	n, err := p.networkBySubnet(ctx, subnet)
	switch {
	case isNotFound(err):
		return nil, nil // a network that is gone holds no addresses
	case err != nil:
		return nil, err
	case n.Gateway == ip:
		return nil, nil
	}
	return nil, p.backend.Unreserve(n.ID, ip)
}

// firstUsable is the first host address of an IPv4 subnet, the gateway
// Docker and weft pick when none is given.
func firstUsable(subnet netip.Prefix) netip.Addr {
	a := subnet.Masked().Addr()
	if n := a.Next(); request.Usable(subnet, n) {
		return n
	}
	return a
}
