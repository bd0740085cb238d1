package daemon

import (
	"context"

	"github.com/weftnet/weft/daemon/links"
)

// Bridge returns the bridge of a network on this node, where its frames
// are captured.
func (d *Daemon) Bridge(ctx context.Context, network string) (string, error) {
	d.mu.Lock()
	n, ok := d.st.Networks[network]
	var vni uint32
	if ok {
		vni = n.VNI
	}
	d.mu.Unlock()
	if ok {
		return links.BridgeName(vni), nil
	}
	if _, _, err := d.member.Network(ctx, network); err != nil {
		return "", err // a 404 when there is no such network
	}
	return "", conflict("network %s has no bridge on this node, as no container here is attached to it: capture on a node that has one", network)
}
