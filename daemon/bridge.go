package daemon

import (
	"context"
	"net/http"

	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/capture"
	"github.com/weftnet/weft/daemon/links"
)

// serveCapture streams a pcap of one network's inner Ethernet frames, as
// its bridge on this node sees them (see capture.Server.Serve).
func (d *Daemon) serveCapture(w http.ResponseWriter, r *http.Request) {
	var req api.Capture
	if !decode(w, r, &req) {
		return
	}
	err := capture.Check(&req)
	var bridge string
	if err == nil {
		bridge, err = d.bridgeOf(r.Context(), req.Network)
	}
	if err == nil {
		err = d.captures.Serve(w, r, req, bridge)
	}
	if err != nil {
		reply(w, 0, nil, err)
	}
}

// bridgeOf returns the bridge of a network on this node.
func (d *Daemon) bridgeOf(ctx context.Context, network string) (string, error) {
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
	if _, _, err := d.clusterNetwork(ctx, network); err != nil {
		return "", err // a 404 when there is no such network
	}
	return "", conflict("network %s has no bridge on this node, as no container here is attached to it: capture on a node that has one", network)
}
