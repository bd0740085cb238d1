package diag

import (
	"context"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
)

// FDB returns the forwarding database of one of this node's networks, or
// with name "" of all of them, sorted by name, followed by the rows of any
// VNI that no network of this node has (leftovers worth seeing). A cluster
// network with no bridge on this node has no rows here.
func (r *Reporter) FDB(ctx context.Context, name string) ([]api.FDB, error) {
	c, nets := r.snapshot()
	if name != "" {
		for _, n := range nets {
			if n.Name == name {
				return []api.FDB{r.fdbOf(n)}, nil
			}
		}
		return clusterFDB(ctx, c, name)
	}
	out := make([]api.FDB, 0, len(nets))
	known := map[uint32]bool{}
	for _, n := range nets {
		out = append(out, r.fdbOf(n))
		known[n.VNI] = true
	}
	for _, vni := range r.Table.VNIs() {
		if !known[vni] {
			out = append(out, r.fdbOf(Network{VNI: vni}))
		}
	}
	return out, nil
}

// clusterFDB returns the empty table of a cluster network that has no
// bridge on this node, and a 404 when the cluster has no such network.
func clusterFDB(ctx context.Context, c *cluster.Node, name string) ([]api.FDB, error) {
	if c == nil {
		return nil, api.NotFound("network %s not found", name)
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	cn := st.NetworkByName(name)
	if cn == nil {
		return nil, api.NotFound("network %s not found", name)
	}
	return []api.FDB{{Network: cn.Name, VNI: cn.VNI, MACs: []api.FDBMAC{}, IPs: []api.FDBIPToMAC{}}}, nil
}

// fdbOf renders a network's rows. A static row of a cluster network comes
// from an endpoint record: nothing else adds static rows there.
func (r *Reporter) fdbOf(n Network) api.FDB {
	dump := r.Table.DumpVNI(n.VNI)
	kind := func(static bool) string {
		switch {
		case !static:
			return api.FDBLearned
		case n.Cluster:
			return api.FDBGossip
		}
		return api.FDBStatic
	}
	out := api.FDB{Network: n.Name, VNI: n.VNI, MACs: make([]api.FDBMAC, len(dump.MACs)), IPs: make([]api.FDBIPToMAC, len(dump.IPs))}
	for i, e := range dump.MACs {
		out.MACs[i] = api.FDBMAC{MAC: e.MAC.String(), VTEP: e.VTEP.String(), Type: kind(e.Static), AgeSeconds: e.Age.Seconds()}
	}
	for i, e := range dump.IPs {
		out.IPs[i] = api.FDBIPToMAC{IP: e.IP.String(), MAC: e.MAC.String(), Type: kind(e.Static), AgeSeconds: e.Age.Seconds()}
	}
	return out
}
