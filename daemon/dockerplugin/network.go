package dockerplugin

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	"github.com/weftnet/weft/daemon/api"
)

// networkRoutes adds the network driver's calls.
func (p *Plugin) networkRoutes(mux *http.ServeMux) {
	handle(mux, "NetworkDriver.GetCapabilities", func(context.Context, struct{}) (any, error) {
		// Docker 20.10 has no cluster store: the networks are local to
		// each engine, and weft connects them across hosts.
		return capabilitiesResponse{Scope: "local", ConnectivityScope: "global"}, nil
	})
	handle(mux, "NetworkDriver.CreateNetwork", p.createNetwork)
	handle(mux, "NetworkDriver.DeleteNetwork", p.deleteNetwork)
	handle(mux, "NetworkDriver.CreateEndpoint", p.createEndpoint)
	handle(mux, "NetworkDriver.EndpointOperInfo", func(context.Context, endpointRequest) (any, error) {
		return operInfoResponse{Value: map[string]any{}}, nil
	})
	handle(mux, "NetworkDriver.DeleteEndpoint", func(_ context.Context, req endpointRequest) (any, error) {
		return nil, p.backend.Delete(req.EndpointID)
	})
	handle(mux, "NetworkDriver.Join", p.join)
	// Docker takes the interface out of the container itself, and
	// DeleteEndpoint removes it.
	handle(mux, "NetworkDriver.Leave", func(context.Context, endpointRequest) (any, error) { return nil, nil })
	// Cluster membership is weft's own: Docker's discovery adds nothing.
	handle(mux, "NetworkDriver.DiscoverNew", func(context.Context, struct{}) (any, error) { return nil, nil })
	handle(mux, "NetworkDriver.DiscoverDelete", func(context.Context, struct{}) (any, error) { return nil, nil })
	handle(mux, "NetworkDriver.ProgramExternalConnectivity", p.programExternal)
	handle(mux, "NetworkDriver.RevokeExternalConnectivity", func(context.Context, endpointRequest) (any, error) { return nil, nil })
	handle(mux, "NetworkDriver.AllocateNetwork", func(context.Context, struct{}) (any, error) { return nil, errNotSwarm })
	handle(mux, "NetworkDriver.FreeNetwork", func(context.Context, struct{}) (any, error) { return nil, errNotSwarm })
}

// errNotWeftIPAM says why a weft network needs weft's IPAM driver.
var errNotWeftIPAM = api.BadRequest("a weft network takes its addresses from weft's cluster IPAM, so that every container's address is unique across all hosts " +
	"(Docker's default IPAM would hand out the same addresses on every host): add --ipam-driver weft to docker network create")

// createNetwork accepts a Docker network that shows a weft network (same
// subnet), or one being created here (a pending pool).
func (p *Plugin) createNetwork(ctx context.Context, req createNetworkRequest) (any, error) {
	if len(req.IPv6Data) > 0 {
		return nil, api.BadRequest("weft networks are IPv4 only: create the network without --ipv6")
	}
	if len(req.IPv4Data) != 1 || req.IPv4Data[0].AddressSpace != AddressSpace {
		return nil, errNotWeftIPAM
	}
	subnet, err := netip.ParsePrefix(req.IPv4Data[0].Pool)
	if err != nil {
		return nil, api.BadRequest("invalid pool %q: %v", req.IPv4Data[0].Pool, err)
	}
	if ok, err := p.adopt(req.NetworkID, subnet, req.Options); err != nil || ok {
		if err == nil {
			p.Learn(req.NetworkID, subnet)
		}
		return nil, err
	}
	if _, err := p.networkBySubnet(ctx, subnet); err != nil {
		return nil, err
	}
	p.Learn(req.NetworkID, subnet)
	return nil, nil
}

// Learn records that the Docker network docker shows the weft network of
// subnet, so that its removal can be followed (DeleteNetwork is told only
// Docker's ID).
func (p *Plugin) Learn(docker string, subnet netip.Prefix) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.views[docker] = subnet
}

// deleteNetwork follows a docker network rm: on a manager it removes the
// weft network everywhere, refused while a container anywhere is on it; a
// network that is already gone (the sync removing its Docker copy) or
// pending is just forgotten.
func (p *Plugin) deleteNetwork(ctx context.Context, req networkRequest) (any, error) {
	p.mu.Lock()
	subnet, known := p.views[req.NetworkID]
	if pp := p.pending[req.NetworkID]; pp != nil {
		delete(p.pending, req.NetworkID)
		delete(p.pools, pp.subnet)
		known = false
	}
	p.mu.Unlock()
	if !known {
		return nil, nil
	}
	n, err := p.networkBySubnet(ctx, subnet)
	if isNotFound(err) {
		p.forget(req.NetworkID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := p.backend.Manage(ctx); err != nil {
		return nil, api.BadRequest("%s is a weft cluster network, and only a manager removes it (from every host): %v", n.Name, err)
	}
	if err := p.backend.RemoveNetwork(ctx, n.Name); err != nil {
		return nil, err
	}
	p.forget(req.NetworkID)
	p.log.Info("weft network removed with its docker network", "network", n.Name, "docker_network", req.NetworkID)
	return nil, nil
}

func (p *Plugin) forget(docker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.views, docker)
}

// createEndpoint binds the endpoint Reserve made for the address Docker
// got from weft's IPAM to Docker's endpoint ID.
func (p *Plugin) createEndpoint(ctx context.Context, req createEndpointRequest) (any, error) {
	if req.Interface == nil || req.Interface.Address == "" {
		return nil, errNotWeftIPAM
	}
	addr, err := netip.ParsePrefix(req.Interface.Address)
	if err != nil {
		return nil, api.BadRequest("invalid address %q: %v", req.Interface.Address, err)
	}
	n, err := p.networkOf(ctx, addr.Addr())
	if err != nil {
		return nil, err
	}
	ep, err := p.backend.Bind(n.ID, addr.Addr(), req.EndpointID)
	if err != nil {
		return nil, err
	}
	p.log.Info("docker endpoint created", "network", n.Name, "docker_endpoint", req.EndpointID, "ip", ep.Addr)
	if req.Interface.MacAddress != "" {
		return createEndpointResponse{}, nil // Docker refuses a driver that changes the MAC it chose
	}
	return createEndpointResponse{Interface: &endpointInterface{MacAddress: ep.MAC.String()}}, nil
}

// join hands Docker the container end of the endpoint's veth to move into
// the container, and the network's gateway for its default route (none on
// an --internal network). weft is the container's way out, so Docker's
// gateway bridge is not added.
func (p *Plugin) join(ctx context.Context, req joinRequest) (any, error) {
	ep, err := p.backend.Endpoint(req.EndpointID)
	if err != nil {
		return nil, err
	}
	n, err := p.networkByID(ctx, ep.NetworkID)
	if err != nil {
		return nil, err
	}
	out := joinResponse{InterfaceName: interfaceName{SrcName: ep.SrcName, DstPrefix: "eth"}, DisableGatewayService: true}
	if !n.Internal && n.Gateway.IsValid() {
		out.Gateway = n.Gateway.String()
	}
	return out, nil
}

// programExternal refuses published ports, which weft does not give
// Docker containers yet, rather than pretending to.
func (p *Plugin) programExternal(_ context.Context, req struct {
	NetworkID  string
	EndpointID string
	Options    map[string]any
}) (any, error) {
	if pm, ok := req.Options[portMapOption].([]any); ok && len(pm) > 0 {
		return nil, api.BadRequest("weft networks do not publish Docker containers' ports (-p) yet: reach the container on its weft address")
	}
	return nil, nil
}

// isNotFound reports whether err is a 404 StatusError.
func isNotFound(err error) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}
