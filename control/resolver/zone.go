package resolver

import (
	"log/slog"
	"maps"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Endpoint is one container on a network, as DNS sees it.
type Endpoint struct {
	Name    string       // container name; may be empty
	Aliases []string     // other names of the container on this network
	Addrs   []netip.Addr // its addresses on the network: A for IPv4, AAAA for IPv6
}

// Zone is the DNS view of one network. The resolver keeps its own copy:
// the caller may change or reuse z after SetZone returns.
//
// Names and aliases that are not valid DNS names (empty labels, a label
// over 63 bytes, a name over 255) are left out, with a warning.
//
// Services will fit without a new type: a service is an Endpoint whose Name
// and Aliases are the service's and whose Addrs hold its virtual IP (so its
// PTR names it too), and tasks.SERVICE is an Endpoint of that Name holding
// its tasks' addresses. Only the lookup will change, to accept the
// two-label tasks.SERVICE. form beside NAME.
type Zone struct {
	ID        string         // network ID, as given in the networks a query's asker is on
	Name      string         // network name: NAME.NETWORK resolves within this network
	Subnets   []netip.Prefix // reverse lookups of addresses in these are answered here, never forwarded
	Endpoints []Endpoint
}

// zoneIndex is a Zone prepared for lookups. It never changes once built.
type zoneIndex struct {
	id      string
	name    string                  // lower-cased Name without the final dot; "" if none
	names   map[string][]netip.Addr // lower-cased name or alias → its addresses, deduplicated
	ptr     map[netip.Addr]string   // address → NAME.NET. of the first named endpoint holding it
	addrs   map[netip.Addr]struct{} // every endpoint address
	subnets []netip.Prefix
}

// buildZone indexes z, logging the names it leaves out.
func buildZone(z Zone, log *slog.Logger) *zoneIndex {
	zi := &zoneIndex{
		id:    z.ID,
		names: make(map[string][]netip.Addr),
		ptr:   make(map[netip.Addr]string),
		addrs: make(map[netip.Addr]struct{}),
	}
	zi.name, _ = normName(z.Name)
	for _, p := range z.Subnets {
		if p.IsValid() {
			zi.subnets = append(zi.subnets, p.Masked())
		}
	}
	seen := make(map[string]addrSet)
	for _, ep := range z.Endpoints {
		zi.add(ep, z.Name, seen, log)
	}
	return zi
}

// add indexes one endpoint of the zone named network; seen holds the
// addresses each name has so far.
func (zi *zoneIndex) add(ep Endpoint, network string, seen map[string]addrSet, log *slog.Logger) {
	addrs := cleanAddrs(ep.Addrs)
	for _, a := range addrs {
		zi.addrs[a] = struct{}{}
	}
	for i, n := range append([]string{ep.Name}, ep.Aliases...) {
		if i == 0 && n == "" {
			continue // a nameless endpoint
		}
		key, ok := normName(n)
		if !ok {
			log.Warn("dns: name left out: not a DNS name", "network", zi.id, "name", n)
			continue
		}
		if seen[key] == nil {
			seen[key] = make(addrSet)
		}
		zi.names[key] = seen[key].appendNew(zi.names[key], addrs)
	}
	zi.addPTR(ep.Name, network, addrs)
}

// addPTR makes NAME.NET. the reverse name of addrs, unless an earlier
// endpoint holds them or NAME.NET. is not a DNS name.
func (zi *zoneIndex) addPTR(name, network string, addrs []netip.Addr) {
	if name == "" || zi.name == "" {
		return
	}
	target := dns.Fqdn(strings.TrimSuffix(name, ".") + "." + strings.TrimSuffix(network, "."))
	if _, ok := dns.IsDomainName(target); !ok {
		return
	}
	for _, a := range addrs {
		if _, taken := zi.ptr[a]; !taken {
			zi.ptr[a] = target
		}
	}
}

// normName lower-cases n and drops its final dot; ok is false when n is not
// a DNS name.
func normName(n string) (string, bool) {
	key := strings.ToLower(strings.TrimSuffix(n, "."))
	if key == "" {
		return "", false
	}
	if _, ok := dns.IsDomainName(key + "."); !ok {
		return "", false
	}
	return key, true
}

// cleanAddrs returns the valid addresses of in, IPv4-mapped ones as IPv4,
// without zones or duplicates.
func cleanAddrs(in []netip.Addr) []netip.Addr {
	clean := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		if a.IsValid() {
			clean = append(clean, a.Unmap().WithZone(""))
		}
	}
	return make(addrSet).appendNew(nil, clean)
}

// addrSet is the set of addresses a list holds, to keep it free of
// duplicates.
type addrSet map[netip.Addr]struct{}

// appendNew appends to dst, and adds to s, those of addrs not in s yet.
func (s addrSet) appendNew(dst, addrs []netip.Addr) []netip.Addr {
	for _, a := range addrs {
		if _, ok := s[a]; !ok {
			s[a] = struct{}{}
			dst = append(dst, a)
		}
	}
	return dst
}

// snapshot is every zone at one moment. It never changes once built.
type snapshot struct {
	zones   map[string]*zoneIndex   // by ID
	names   map[string]struct{}     // every zone's lower-cased Name
	subnets []netip.Prefix          // every zone's subnets
	addrs   map[netip.Addr]struct{} // every zone's endpoint addresses
}

// newSnapshot builds the snapshot of zones, which it keeps.
func newSnapshot(zones map[string]*zoneIndex) *snapshot {
	s := &snapshot{
		zones: zones,
		names: make(map[string]struct{}),
		addrs: make(map[netip.Addr]struct{}),
	}
	for _, z := range zones {
		if z.name != "" {
			s.names[z.name] = struct{}{}
		}
		s.subnets = append(s.subnets, z.subnets...)
		maps.Copy(s.addrs, z.addrs)
	}
	return s
}

// with returns a snapshot with z in place of the zone of its ID.
func (s *snapshot) with(z *zoneIndex) *snapshot {
	zones := maps.Clone(s.zones)
	zones[z.id] = z
	return newSnapshot(zones)
}

// without returns a snapshot without the zone id.
func (s *snapshot) without(id string) *snapshot {
	zones := maps.Clone(s.zones)
	delete(zones, id)
	return newSnapshot(zones)
}

// askerZones returns the zones of the network IDs on, in that order, each
// once; IDs the snapshot does not have are skipped.
func (s *snapshot) askerZones(on []string) []*zoneIndex {
	out := make([]*zoneIndex, 0, len(on))
	for _, id := range on {
		z, ok := s.zones[id]
		if ok && !containsZone(out, z) {
			out = append(out, z)
		}
	}
	return out
}

// containsZone reports whether z is in s.
func containsZone(s []*zoneIndex, z *zoneIndex) bool {
	for _, y := range s {
		if y == z {
			return true
		}
	}
	return false
}

// owns reports whether a lies in any zone's subnets or is any zone's
// endpoint address.
func (s *snapshot) owns(a netip.Addr) bool {
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.subnets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
