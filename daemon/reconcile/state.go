package reconcile

import (
	"net/netip"
	"slices"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/vtep"
)

// stateOf is what the records of a network's endpoints say of its remote
// side: the rows of every endpoint of another node, and those nodes' VTEPs
// as peers. Where two records claim one address or MAC (an address handed
// to a new endpoint before the old record's tombstone arrived), the newer
// record wins.
func stateOf(self string, recs []gossip.Record) vtep.NetworkState {
	s := vtep.NetworkState{Peers: Peers(self, recs), MACs: map[fdb.MAC]netip.AddrPort{}, IPs: map[netip.Addr]fdb.MAC{}}
	macVer, ipVer := map[fdb.MAC]uint64{}, map[netip.Addr]uint64{}
	for _, r := range recs {
		if r.Node == self {
			continue
		}
		if v, ok := macVer[r.MAC]; !ok || r.Version > v {
			s.MACs[r.MAC], macVer[r.MAC] = r.VTEP, r.Version
		}
		ip := r.IP.Unmap()
		if v, ok := ipVer[ip]; !ok || r.Version > v {
			s.IPs[ip], ipVer[ip] = r.MAC, r.Version
		}
	}
	return s
}

// Peers returns the VTEPs, other than self's, that have endpoints among
// recs, sorted.
func Peers(self string, recs []gossip.Record) []netip.AddrPort {
	peers := []netip.AddrPort{}
	for _, r := range recs {
		if r.Node != self && !slices.Contains(peers, r.VTEP) {
			peers = append(peers, r.VTEP)
		}
	}
	slices.SortFunc(peers, netip.AddrPort.Compare)
	return peers
}

// zoneOf is the DNS view of a network: the names of its endpoints, this
// node's included.
func zoneOf(n *Network, recs []gossip.Record) resolver.Zone {
	z := resolver.Zone{ID: n.ID, Name: n.Name, Subnets: []netip.Prefix{n.Subnet}}
	for _, r := range recs {
		if r.Name == "" && len(r.Aliases) == 0 {
			continue
		}
		z.Endpoints = append(z.Endpoints, resolver.Endpoint{Name: r.Name, Aliases: r.Aliases, Addrs: []netip.Addr{r.IP}})
	}
	return z
}
