package daemon

import (
	"log/slog"
	"slices"

	"github.com/weftnet/weft/daemon/links"
)

// reportStrays warns about the links on a restored network's bridge that
// the state names for no attachment: the veth of an attach weftd died in
// the middle of, or containers that a state recovered from an older copy
// does not know. They are left in place, since the state may be what is
// wrong; the warning is what keeps that from passing silently.
func reportStrays(log *slog.Logger, n *netState) {
	br := links.BridgeName(n.VNI)
	ports, err := links.BridgePorts(br)
	if err != nil {
		log.Debug("bridge ports not listed", "network", n.Name, "bridge", br, "err", err)
		return
	}
	known := map[string]bool{links.TAPName(n.VNI): true}
	for _, ep := range n.Endpoints {
		known[ep.HostIf] = true
	}
	strays := slices.DeleteFunc(ports, func(p string) bool { return known[p] })
	if len(strays) > 0 {
		slices.Sort(strays)
		log.Warn("links on the network's bridge that no attachment in the state names; left in place", "network", n.Name, "bridge", br, "links", strays)
	}
}
