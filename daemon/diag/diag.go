// Package diag is what this node shows of its peers, forwarding database
// and cluster members.
package diag

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
)

// Network is what the diagnostics need of one of this node's networks.
type Network struct {
	Name, ID string
	VNI      uint32
	// Cluster says the network is the cluster's: its peers and static FDB
	// rows come from gossip.
	Cluster bool
	// Peers are a static-peer network's peer VTEPs.
	Peers []netip.AddrPort
}

// Source is the daemon's changing state, as the diagnostics read it.
type Source interface {
	// DiagSnapshot returns the cluster node (nil outside a cluster) and
	// this node's networks in any order, copied under the daemon's lock so
	// that the diagnostics read the data plane and the cluster without
	// holding it. The Reporter does not change what it returns.
	DiagSnapshot() (*cluster.Node, []Network)
}

// Reporter answers the local API's diagnostics (localapi.Diagnostics):
// peers, forwarding database, cluster nodes and one node in detail.
type Reporter struct {
	// Source gives the cluster node and this node's networks.
	Source Source
	// Table is the data plane's forwarding database.
	Table *fdb.Table
	// Metrics holds the traffic counted per peer VTEP; nil adds no
	// counters to the peers.
	Metrics *metrics.Registry
	// DataAddr is this node's VTEP, shown outside a cluster.
	DataAddr netip.AddrPort
	// Log takes the debug lines of a cluster that cannot say all it
	// knows (no leader, no raft configuration).
	Log *slog.Logger
}

// snapshot returns the cluster node and this node's networks, sorted by
// name.
func (r *Reporter) snapshot() (*cluster.Node, []Network) {
	c, nets := r.Source.DiagSnapshot()
	slices.SortFunc(nets, func(a, b Network) int { return cmp.Compare(a.Name, b.Name) })
	return c, nets
}
