package cniplugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weftnet/weft/daemon/api"
)

// check verifies that weftd has the container attached to the network as
// the runtime's previous result says: interface, MAC and address.
func (plugin) check(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error {
	if c.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "weft: CHECK needs the prevResult of the ADD", "")
	}
	prev, err := current.NewResultFromResult(c.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "weft: cannot read prevResult: "+err.Error(), "")
	}
	n, err := cl.Network(ctx, c.Network)
	if err != nil {
		if isNotFound(err) {
			return noNetwork(c)
		}
		return cniError(c, "look up network "+c.Network, err)
	}
	ep, ok := endpointOf(n, args.ContainerID)
	if !ok {
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("weft: container %s is not attached to %s", args.ContainerID, c.Network), "")
	}
	if why := mismatch(args, ep, prev); why != "" {
		return types.NewError(types.ErrInternal, fmt.Sprintf("weft: container %s on %s: %s", args.ContainerID, c.Network, why), "")
	}
	return nil
}

// endpointOf finds the network's endpoint on this host that the container
// was attached with.
func endpointOf(n api.Network, containerID string) (api.Endpoint, bool) {
	for _, ep := range n.Containers {
		if ep.ContainerID == containerID {
			return ep, true
		}
	}
	return api.Endpoint{}, false
}

// mismatch says how the attachment differs from the previous result, or
// "" if it matches.
func mismatch(args *skel.CmdArgs, ep api.Endpoint, prev *current.Result) string {
	if ep.Interface != args.IfName {
		return fmt.Sprintf("its interface is %s, not %s", ep.Interface, args.IfName)
	}
	var mac string
	for _, i := range prev.Interfaces {
		if i.Name == args.IfName {
			mac = i.Mac
		}
	}
	if !strings.EqualFold(mac, ep.MacAddress) {
		return fmt.Sprintf("its MAC is %s; the ADD result said %q", ep.MacAddress, mac)
	}
	for _, ip := range prev.IPs {
		if ip.Address.String() == ep.IPv4Address {
			return ""
		}
	}
	return fmt.Sprintf("its address %s is not in the ADD result", ep.IPv4Address)
}
