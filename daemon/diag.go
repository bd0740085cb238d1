package daemon

import (
	"slices"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/diag"
)

// diagnostics returns the room that shows the API this node's peers,
// forwarding database and cluster members.
func diagnostics(d *Daemon) *diag.Reporter {
	return &diag.Reporter{Source: d, Table: d.fdb, Metrics: d.reg, DataAddr: d.host.DataAddr, Log: d.log}
}

// DiagSnapshot returns the cluster membership and this node's networks,
// copied under d.mu (diag.Source).
func (d *Daemon) DiagSnapshot() (*cluster.Node, []diag.Network) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]diag.Network, 0, len(d.st.Networks))
	for _, n := range d.st.Networks {
		out = append(out, diag.Network{Name: n.Name, ID: n.ID, VNI: n.VNI, Cluster: n.Cluster, Peers: slices.Clone(n.Peers)})
	}
	c, _ := d.member.Current()
	return c, out
}
