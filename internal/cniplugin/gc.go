package cniplugin

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/weftnet/weft/daemon/api"
)

// gc detaches the network's attachments on this host that a runtime made
// (they have a container ID) and that are not among the runtime's valid
// attachments. Attachments made otherwise (weft attach) are left alone.
func (plugin) gc(ctx context.Context, args *skel.CmdArgs, c *Config, cl *api.Client) error {
	n, err := cl.Network(ctx, c.Network)
	switch {
	case isNotFound(err):
		return nil // no network, nothing attached to it
	case err != nil:
		return cniError(c, "look up network "+c.Network, err)
	}
	valid := map[[2]string]bool{}
	for _, a := range c.ValidAttachments {
		valid[[2]string{a.ContainerID, a.IfName}] = true
	}
	var errs []error
	for _, ep := range n.Containers {
		if ep.ContainerID == "" || valid[[2]string{ep.ContainerID, ep.Interface}] {
			continue
		}
		err := cl.Detach(ctx, api.Detach{Network: c.Network, ContainerID: ep.ContainerID})
		if err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return cniError(c, "collect stale attachments of "+c.Network, errors.Join(errs...))
	}
	return nil
}
