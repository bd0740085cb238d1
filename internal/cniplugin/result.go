package cniplugin

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weftnet/weft/daemon/api"
)

// resolvOptions are the resolver options weftd writes for its containers:
// the embedded resolver answers bare container names, so no name is
// tried with a search domain first.
var resolvOptions = []string{"ndots:0"}

// buildResult describes an attachment as CNI's result: the interface in
// the sandbox with its MAC, its address with the network's gateway, a
// default route through the gateway unless the network is internal, and
// weft's embedded resolver.
func buildResult(sandbox string, ep api.Endpoint, n api.Network) (*current.Result, error) {
	addr, err := netip.ParsePrefix(ep.IPv4Address)
	if err != nil {
		return nil, fmt.Errorf("weftd gave endpoint %s the address %q: %w", ep.EndpointID, ep.IPv4Address, err)
	}
	ipc := &current.IPConfig{Interface: current.Int(0), Address: ipNet(addr)}
	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: ep.Interface, Mac: ep.MacAddress, Sandbox: sandbox}},
		IPs:        []*current.IPConfig{ipc},
	}
	if gw, ok := gateway(n); ok {
		ipc.Gateway = gw.AsSlice()
		if !n.Internal {
			res.Routes = append(res.Routes, &types.Route{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw.AsSlice()})
		}
	}
	if ep.Resolver != "" {
		res.DNS.Nameservers = []string{ep.Resolver}
		res.DNS.Options = resolvOptions
	}
	return res, nil
}

// gateway returns the network's gateway address, if it has one.
func gateway(n api.Network) (netip.Addr, bool) {
	if len(n.IPAM.Config) == 0 {
		return netip.Addr{}, false
	}
	gw, err := netip.ParseAddr(n.IPAM.Config[0].Gateway)
	return gw, err == nil
}

func ipNet(p netip.Prefix) net.IPNet {
	return net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
