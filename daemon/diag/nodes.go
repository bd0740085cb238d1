package diag

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
)

// Nodes lists the cluster's nodes with their status as this node sees it.
func (r *Reporter) Nodes(ctx context.Context) ([]api.Node, error) {
	c, _ := r.Source.DiagSnapshot()
	if c == nil {
		return nil, api.NoCluster()
	}
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		r.Log.Debug("no leader known", "err", err)
	}
	alive := map[string]bool{}
	for _, m := range c.Agent().Members() {
		alive[m.ID] = m.State == gossip.StateAlive || m.State == gossip.StateSuspect
	}
	var out []api.Node
	for _, n := range st.Nodes {
		node := api.Node{ID: n.ID, Hostname: n.Hostname, Role: string(n.Role), Addr: n.Addr.String(), DataAddr: n.DataAddr.String(), Self: n.ID == c.ID(), Status: "Down"}
		if node.Self || alive[n.ID] {
			node.Status = "Ready"
		}
		if n.Role == pki.RoleManager {
			switch {
			case n.ID == leader.ID:
				node.ManagerStatus = "Leader"
			case node.Status == "Ready":
				node.ManagerStatus = "Reachable"
			default:
				node.ManagerStatus = "Unreachable"
			}
		}
		out = append(out, node)
	}
	slices.SortFunc(out, func(a, b api.Node) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// NodeInfo describes a node: ref is "self" for this node, else a node ID,
// a unique prefix of one, or a unique hostname. Outside a cluster only
// "self" is known.
func (r *Reporter) NodeInfo(ctx context.Context, ref string) (api.NodeInfo, error) {
	c, nets := r.snapshot()
	if c == nil {
		if ref != "self" {
			return api.NodeInfo{}, api.NotFound("node %s not found: this node is not part of a cluster", ref)
		}
		return r.standaloneInfo(nets), nil
	}
	st, err := c.State(ctx)
	if err != nil {
		return api.NodeInfo{}, err
	}
	n, err := findNode(st, ref, c.ID())
	if err != nil {
		return api.NodeInfo{}, err
	}
	info := api.NodeInfo{
		ID: n.ID, Hostname: n.Hostname, Role: string(n.Role), Self: n.ID == c.ID(), Joined: n.Joined,
		Addresses: api.NodeAddresses{DataPath: n.DataAddr.String(), Gossip: addrString(n.GossipAddr)},
		Gossip:    "unknown", Status: "Down", Networks: []string{},
	}
	fillGossip(c, &info)
	if n.Role == pki.RoleManager {
		info.Addresses.Manager = addrString(n.Addr)
		info.ManagerStatus = r.managerStatus(ctx, c, n.ID, info.Status == "Ready")
	}
	if info.Self {
		info.Version = api.ThisBuild().Version
		for _, ln := range nets {
			info.Networks = append(info.Networks, ln.Name)
		}
		return info, nil
	}
	for _, sn := range st.Networks {
		if slices.Contains(c.Agent().Interested(sn.ID), n.ID) {
			info.Networks = append(info.Networks, sn.Name)
		}
	}
	slices.Sort(info.Networks)
	return info, nil
}

// standaloneInfo describes this node when it is in no cluster.
func (r *Reporter) standaloneInfo(nets []Network) api.NodeInfo {
	hostname, _ := os.Hostname()
	info := api.NodeInfo{
		Hostname: hostname, Role: api.RoleStandalone, Self: true, Status: "Ready",
		Addresses: api.NodeAddresses{DataPath: r.DataAddr.String()}, Networks: []string{}, Version: api.ThisBuild().Version,
	}
	for _, n := range nets {
		info.Networks = append(info.Networks, n.Name)
	}
	return info
}

// fillGossip sets a node's gossip state and status as this node sees them.
func fillGossip(c *cluster.Node, info *api.NodeInfo) {
	if info.Self {
		info.Gossip, info.Status = c.Agent().LocalNode().State.String(), "Ready"
		return
	}
	for _, m := range c.Agent().Members() {
		if m.ID == info.ID {
			info.Gossip = m.State.String()
			if m.State == gossip.StateAlive || m.State == gossip.StateSuspect {
				info.Status = "Ready"
			}
		}
	}
}

// managerStatus says whether a manager leads, and what raft says of it
// when this node is a manager and so holds the raft configuration.
func (r *Reporter) managerStatus(ctx context.Context, c *cluster.Node, id string, ready bool) *api.ManagerStatus {
	ms := &api.ManagerStatus{Reachability: "unreachable"}
	if ready {
		ms.Reachability = "reachable"
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		r.Log.Debug("no leader known", "err", err)
	}
	ms.Leader = leader.ID != "" && leader.ID == id
	if !c.IsManager() {
		return ms
	}
	servers, err := c.RaftServers()
	if err != nil {
		r.Log.Debug("no raft configuration", "err", err)
		return ms
	}
	ms.Raft = "none"
	for _, s := range servers {
		if string(s.ID) == id {
			ms.Raft = strings.ToLower(s.Suffrage.String())
		}
	}
	return ms
}

// findNode resolves a node reference as Docker does: "self", an ID, a
// unique ID prefix, or a unique hostname.
func findNode(st *store.State, ref, self string) (*store.Node, error) {
	if ref == "self" {
		ref = self
	}
	if n, ok := st.Nodes[ref]; ok {
		return n, nil
	}
	var byPrefix, byName []*store.Node
	for _, n := range st.Nodes {
		if ref != "" && strings.HasPrefix(n.ID, ref) {
			byPrefix = append(byPrefix, n)
		}
		if n.Hostname == ref {
			byName = append(byName, n)
		}
	}
	for _, found := range [][]*store.Node{byPrefix, byName} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		ids := make([]string, len(found))
		for i, n := range found {
			ids[i] = n.ID
		}
		slices.Sort(ids)
		return nil, api.BadRequest("node %s is ambiguous: it matches %s; give an ID", ref, strings.Join(ids, ", "))
	}
	return nil, api.NotFound("node %s not found", ref)
}

func addrString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}
