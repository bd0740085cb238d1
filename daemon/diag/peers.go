package diag

import (
	"net/netip"
	"slices"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/daemon/api"
)

// Peers lists every VTEP this node knows, sorted by address: the peers of
// its static-peer networks, the VTEPs those learned from traffic, every
// cluster member, and the VTEPs of the endpoints of its cluster networks.
func (r *Reporter) Peers() []api.Peer {
	c, nets := r.snapshot()
	pt := peerTable{}
	for _, n := range nets {
		if !n.Cluster {
			r.staticPeers(n, pt)
		}
	}
	if c != nil {
		clusterPeers(c, nets, pt)
	}
	if r.Metrics != nil {
		for _, s := range r.Metrics.Peers.Stats() {
			if p, ok := pt[s.Peer]; ok && s.Peer.IsValid() {
				p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes = s.RxPackets, s.RxBytes, s.TxPackets, s.TxBytes
				p.seen(s.LastSeen)
			}
		}
	}
	return pt.list()
}

// staticPeers adds a static-peer network's peers and the VTEPs it learned.
func (r *Reporter) staticPeers(n Network, pt peerTable) {
	for _, vtep := range n.Peers {
		pt.get(vtep, api.PeerStatic).addNetwork(n.Name)
	}
	dump := r.Table.DumpVNI(n.VNI)
	for _, e := range dump.MACs {
		if !e.Static {
			p := pt.get(e.VTEP, api.PeerLearned)
			p.addNetwork(n.Name)
			p.seen(dump.Taken.Add(-e.Age))
		}
	}
}

// clusterPeers adds every other cluster member with the gossip state this
// node sees, and the networks it has endpoints on among this node's.
func clusterPeers(c *cluster.Node, nets []Network, pt peerTable) {
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
		if !n.Cluster {
			continue
		}
		for _, r := range c.Agent().Records(n.ID) {
			if r.Node == self {
				continue
			}
			p := pt.get(r.VTEP, "unknown")
			if m, ok := members[r.Node]; ok {
				p.setMember(m)
			} else if p.NodeID == "" {
				p.NodeID = r.Node
			}
			p.addNetwork(n.Name)
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
