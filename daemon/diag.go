package daemon

import (
	"cmp"
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/daemon/api"
)

// diagNet is what the diagnostics need of one of this node's networks,
// copied under d.mu so that they read the data plane without holding it.
type diagNet struct {
	name, id string
	vni      uint32
	cluster  bool
	peers    []netip.AddrPort
}

// diagNets returns the cluster membership and this node's networks, sorted
// by name.
func (d *Daemon) diagNets() (*cluster.Node, []diagNet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]diagNet, 0, len(d.st.Networks))
	for _, n := range d.st.Networks {
		out = append(out, diagNet{name: n.Name, id: n.ID, vni: n.VNI, cluster: n.Cluster, peers: slices.Clone(n.Peers)})
	}
	slices.SortFunc(out, func(a, b diagNet) int { return cmp.Compare(a.name, b.name) })
	return d.cl, out
}

// Peers lists every VTEP this node knows, sorted by address: the peers of
// its static-peer networks, the VTEPs those learned from traffic, every
// cluster member, and the VTEPs of the endpoints of its cluster networks.
func (d *Daemon) Peers() []api.Peer {
	c, nets := d.diagNets()
	pt := peerTable{}
	for _, n := range nets {
		if !n.cluster {
			d.staticPeers(n, pt)
		}
	}
	if c != nil {
		clusterPeers(c, nets, pt)
	}
	if d.reg != nil {
		for _, s := range d.reg.Peers.Stats() {
			if p, ok := pt[s.Peer]; ok && s.Peer.IsValid() {
				p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes = s.RxPackets, s.RxBytes, s.TxPackets, s.TxBytes
				p.seen(s.LastSeen)
			}
		}
	}
	return pt.list()
}

// staticPeers adds a static-peer network's peers and the VTEPs it learned.
func (d *Daemon) staticPeers(n diagNet, pt peerTable) {
	for _, vtep := range n.peers {
		pt.get(vtep, api.PeerStatic).addNetwork(n.name)
	}
	dump := d.fdb.DumpVNI(n.vni)
	for _, e := range dump.MACs {
		if !e.Static {
			p := pt.get(e.VTEP, api.PeerLearned)
			p.addNetwork(n.name)
			p.seen(dump.Taken.Add(-e.Age))
		}
	}
}

// clusterPeers adds every other cluster member with the gossip state this
// node sees, and the networks it has endpoints on among this node's.
func clusterPeers(c *cluster.Node, nets []diagNet, pt peerTable) {
	self := c.ID()
	members := map[string]gossip.Member{}
	for _, m := range c.Agent().Members() {
		if m.ID == self {
			continue
		}
		members[m.ID] = m
		if m.Meta.VTEP.IsValid() {
			pt.get(m.Meta.VTEP, "").setMember(m)
		}
	}
	for _, n := range nets {
		if !n.cluster {
			continue
		}
		for _, r := range c.Agent().Records(n.id) {
			if r.Node == self {
				continue
			}
			p := pt.get(r.VTEP, "unknown")
			if m, ok := members[r.Node]; ok {
				p.setMember(m)
			} else if p.NodeID == "" {
				p.NodeID = r.Node
			}
			p.addNetwork(n.name)
		}
	}
}

// peerTable gathers what is known of each VTEP.
type peerTable map[netip.AddrPort]*peerRow

// get returns the peer at vtep, adding it in state if it is new.
func (pt peerTable) get(vtep netip.AddrPort, state string) *peerRow {
	vtep = netip.AddrPortFrom(vtep.Addr().Unmap(), vtep.Port())
	p, ok := pt[vtep]
	if !ok {
		p = &peerRow{api.Peer{VTEP: vtep.String(), State: state, Networks: []string{}}}
		pt[vtep] = p
	}
	return p
}

// list returns the peers sorted by address, each with its networks sorted.
func (pt peerTable) list() []api.Peer {
	keys := make([]netip.AddrPort, 0, len(pt))
	for k := range pt {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, netip.AddrPort.Compare)
	out := make([]api.Peer, len(keys))
	for i, k := range keys {
		out[i] = pt[k].Peer
		slices.Sort(out[i].Networks)
	}
	return out
}

// peerRow is one peer being gathered.
type peerRow struct{ api.Peer }

func (p *peerRow) addNetwork(name string) {
	if !slices.Contains(p.Networks, name) {
		p.Networks = append(p.Networks, name)
	}
}

// seen moves the peer's last-seen time forward to t.
func (p *peerRow) seen(t time.Time) {
	if t.After(p.LastSeen) {
		p.LastSeen = t
	}
}

// setMember says the peer is a cluster member: its identity and gossip
// state, which says more of its reachability than any other source.
func (p *peerRow) setMember(m gossip.Member) {
	p.NodeID, p.Hostname, p.Role, p.State = m.ID, m.Meta.Hostname, string(m.Meta.Role), m.State.String()
}

// FDB returns the forwarding database of one of this node's networks, or
// with name "" of all of them, sorted by name, followed by the rows of any
// VNI that no network of this node has (leftovers worth seeing). A cluster
// network with no bridge on this node has no rows here.
func (d *Daemon) FDB(ctx context.Context, name string) ([]api.FDB, error) {
	_, nets := d.diagNets()
	if name != "" {
		for _, n := range nets {
			if n.name == name {
				return []api.FDB{d.fdbOf(n)}, nil
			}
		}
		_, cn, err := d.clusterNetwork(ctx, name) // a 404 when there is no such network
		if err != nil {
			return nil, err
		}
		return []api.FDB{{Network: cn.Name, VNI: cn.VNI, MACs: []api.FDBMAC{}, IPs: []api.FDBIPToMAC{}}}, nil
	}
	out := make([]api.FDB, 0, len(nets))
	known := map[uint32]bool{}
	for _, n := range nets {
		out = append(out, d.fdbOf(n))
		known[n.vni] = true
	}
	for _, vni := range d.fdb.VNIs() {
		if !known[vni] {
			out = append(out, d.fdbOf(diagNet{vni: vni}))
		}
	}
	return out, nil
}

// fdbOf renders a network's rows. A static row of a cluster network comes
// from an endpoint record: nothing else adds static rows there.
func (d *Daemon) fdbOf(n diagNet) api.FDB {
	dump := d.fdb.DumpVNI(n.vni)
	kind := func(static bool) string {
		switch {
		case !static:
			return api.FDBLearned
		case n.cluster:
			return api.FDBGossip
		}
		return api.FDBStatic
	}
	out := api.FDB{Network: n.name, VNI: n.vni, MACs: make([]api.FDBMAC, len(dump.MACs)), IPs: make([]api.FDBIPToMAC, len(dump.IPs))}
	for i, e := range dump.MACs {
		out.MACs[i] = api.FDBMAC{MAC: e.MAC.String(), VTEP: e.VTEP.String(), Type: kind(e.Static), AgeSeconds: e.Age.Seconds()}
	}
	for i, e := range dump.IPs {
		out.IPs[i] = api.FDBIPToMAC{IP: e.IP.String(), MAC: e.MAC.String(), Type: kind(e.Static), AgeSeconds: e.Age.Seconds()}
	}
	return out
}

// NodeInfo describes a node: ref is "self" for this node, else a node ID,
// a unique prefix of one, or a unique hostname. Outside a cluster only
// "self" is known.
func (d *Daemon) NodeInfo(ctx context.Context, ref string) (api.NodeInfo, error) {
	c, nets := d.diagNets()
	if c == nil {
		if ref != "self" {
			return api.NodeInfo{}, notFound("node %s not found: this node is not part of a cluster", ref)
		}
		return d.standaloneInfo(nets), nil
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
	d.fillGossip(c, &info)
	if n.Role == pki.RoleManager {
		info.Addresses.Manager = addrString(n.Addr)
		info.ManagerStatus = d.managerStatus(ctx, c, n.ID, info.Status == "Ready")
	}
	if info.Self {
		info.Version = api.ThisBuild().Version
		for _, ln := range nets {
			info.Networks = append(info.Networks, ln.name)
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
func (d *Daemon) standaloneInfo(nets []diagNet) api.NodeInfo {
	hostname, _ := os.Hostname()
	info := api.NodeInfo{
		Hostname: hostname, Role: api.RoleStandalone, Self: true, Status: "Ready",
		Addresses: api.NodeAddresses{DataPath: d.host.DataAddr.String()}, Networks: []string{}, Version: api.ThisBuild().Version,
	}
	for _, n := range nets {
		info.Networks = append(info.Networks, n.name)
	}
	return info
}

// fillGossip sets a node's gossip state and status as this node sees them.
func (d *Daemon) fillGossip(c *cluster.Node, info *api.NodeInfo) {
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
func (d *Daemon) managerStatus(ctx context.Context, c *cluster.Node, id string, ready bool) *api.ManagerStatus {
	ms := &api.ManagerStatus{Reachability: "unreachable"}
	if ready {
		ms.Reachability = "reachable"
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		d.log.Debug("no leader known", "err", err)
	}
	ms.Leader = leader.ID != "" && leader.ID == id
	if !c.IsManager() {
		return ms
	}
	servers, err := c.RaftServers()
	if err != nil {
		d.log.Debug("no raft configuration", "err", err)
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
		return nil, badRequest("node %s is ambiguous: it matches %s; give an ID", ref, strings.Join(ids, ", "))
	}
	return nil, notFound("node %s not found", ref)
}

func addrString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}
