// Package request checks what the local API is asked for, and says what is
// wrong in the user's terms: names, subnets, peers, MTUs and the addresses
// of a cluster init or join.
//
// Its checks need no state but this host's data path (Host); what depends
// on the networks that exist (a name or VNI already taken) is the
// daemon's to check.
package request

import (
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/control/pki"
	wcrypto "github.com/weftnet/weft/crypto"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/encap"
)

// validName is Docker's rule for network and container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

var badRequest = api.BadRequest

// VXLAN overhead on the underlay: outer IP, UDP and VXLAN headers plus the
// inner Ethernet header that the overlay MTU does not count.
const (
	overheadIPv4 = 20 + 8 + 8 + 14
	overheadIPv6 = 40 + 8 + 8 + 14
)

// managerPort is the default port of the managers' API (2377, as Docker's).
const managerPort = 2377

// Host is what requests are checked against: this node's data path.
type Host struct {
	// DataAddr is the underlay address and port VXLAN uses here.
	DataAddr netip.AddrPort
	// UnderlayMTU is the MTU of the underlay interface DataAddr is on.
	UnderlayMTU int
}

// Static is a static-peer network as a create request asks for it.
type Static struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	Peers   []netip.AddrPort
	MTU     int
}

// NetworkName checks a network's name against Docker's rule.
func NetworkName(name string) error {
	if !validName.MatchString(name) {
		return badRequest("invalid network name %q: use letters, digits, '_', '.' and '-'", name)
	}
	return nil
}

// Names checks a container name and its aliases: Docker's rule for names,
// and DNS's limits (labels of at most 63 bytes, 253 in all). An empty
// container name is allowed.
func Names(name string, aliases []string) error {
	for i, n := range append([]string{name}, aliases...) {
		what := "alias"
		if i == 0 {
			if n == "" {
				continue
			}
			what = "container name"
		}
		if !validName.MatchString(n) || len(n) > 253 || slices.ContainsFunc(strings.Split(n, "."), func(l string) bool { return l == "" || len(l) > 63 }) {
			return badRequest("invalid %s %q: use letters, digits, '_', '.' and '-', in DNS labels of at most 63 characters", what, n)
		}
	}
	return nil
}

// Encrypted reports whether a request asks for an encrypted network:
// Encrypted, or the option "encrypted" as Docker's --opt encrypted gives it.
func Encrypted(req api.NetworkCreate) bool {
	_, opt := req.Options["encrypted"]
	return req.Encrypted || opt
}

// StaticNetwork checks a request for a static-peer network.
func (h Host) StaticNetwork(req api.NetworkCreate) (Static, error) {
	var s Static
	if err := NetworkName(req.Name); err != nil {
		return s, err
	}
	switch {
	case req.Subnet == "":
		return s, badRequest("a static-peer network needs --subnet")
	case req.VNI == 0 || req.VNI > encap.MaxVNI:
		return s, badRequest("invalid VNI %d: want 1-%d", req.VNI, encap.MaxVNI)
	case Encrypted(req):
		return s, badRequest("a static-peer network cannot be encrypted: its keys come from the cluster's managers; create a cluster network (without --vni and --peer)")
	}
	var err error
	if s.Subnet, s.Gateway, err = Subnet(req.Subnet, req.Gateway); err != nil {
		return s, err
	}
	if s.Peers, err = h.Peers(req.Peers); err != nil {
		return s, err
	}
	s.MTU, err = h.MTU(req.MTU, false)
	return s, err
}

// Subnet reads a subnet and, if given, its gateway.
func Subnet(subnet, gateway string) (netip.Prefix, netip.Addr, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return p, netip.Addr{}, badRequest("invalid subnet %q: %v", subnet, err)
	}
	if p.Masked() != p {
		return p, netip.Addr{}, badRequest("invalid subnet %s: host bits set (did you mean %s?)", p, p.Masked())
	}
	if gateway == "" {
		return p, netip.Addr{}, nil
	}
	gw, err := netip.ParseAddr(gateway)
	if err != nil {
		return p, gw, badRequest("invalid gateway %q: %v", gateway, err)
	}
	if !Usable(p, gw) {
		return p, gw, badRequest("gateway %s is not a usable address of subnet %s", gw, p)
	}
	return p, gw, nil
}

// ClusterAddrs reads the subnet, gateway and address range of a request
// for a cluster network; each is optional.
func ClusterAddrs(req api.NetworkCreate) (subnet netip.Prefix, gateway netip.Addr, ipRange netip.Prefix, err error) {
	if req.Subnet != "" {
		if subnet, gateway, err = Subnet(req.Subnet, req.Gateway); err != nil {
			return
		}
	} else if req.Gateway != "" {
		err = badRequest("--gateway needs --subnet")
		return
	}
	if req.IPRange != "" {
		if ipRange, err = netip.ParsePrefix(req.IPRange); err != nil {
			err = badRequest("invalid --ip-range %q: %v", req.IPRange, err)
		}
	}
	return
}

// Usable reports whether ip is a host address of subnet: inside it, and
// neither the IPv4 network and broadcast addresses (both are usable in a /31,
// RFC 3021) nor the IPv6 subnet-router anycast address.
func Usable(subnet netip.Prefix, ip netip.Addr) bool {
	switch {
	case !subnet.Contains(ip):
		return false
	case ip.Is6():
		return ip != subnet.Addr()
	case subnet.Bits() >= 31:
		return true
	}
	return ip != subnet.Addr() && ip != lastAddr(subnet)
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Peers reads peers given as IP or IP:port; a bare IP uses the data port.
func (h Host) Peers(peers []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, s := range peers {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			ip, ierr := netip.ParseAddr(s)
			if ierr != nil {
				return nil, badRequest("invalid peer %q: want IP or IP:PORT", s)
			}
			ap = netip.AddrPortFrom(ip, h.DataAddr.Port())
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap == h.DataAddr {
			return nil, badRequest("peer %s is this host's own data path address", s)
		}
		if ap.Addr().Is4() != h.DataAddr.Addr().Is4() {
			return nil, badRequest("peer %s is not in the data path address's family (%s)", s, h.DataAddr.Addr())
		}
		if !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out, nil
}

// MTU checks a requested overlay MTU against what the underlay can carry,
// or returns the largest that fits when none was asked for (asked 0).
func (h Host) MTU(asked int, encrypted bool) (int, error) {
	overhead := overheadIPv4
	if h.DataAddr.Addr().Is6() {
		overhead = overheadIPv6
	}
	if encrypted {
		overhead += wcrypto.Overhead
	}
	most := h.UnderlayMTU - overhead
	switch {
	case asked == 0:
		return most, nil
	case asked < 68 || asked > most:
		return 0, badRequest("invalid MTU %d: the underlay (MTU %d) carries at most %d after %d bytes of VXLAN (and ESP) overhead", asked, h.UnderlayMTU, most, overhead)
	}
	return asked, nil
}

// CheckDataPath accepts --data-path-addr and --data-path-port on init and
// join when they name the data path weftd already uses: weftd binds it when
// it starts, and moving it while networks carry traffic is not supported.
func (h Host) CheckDataPath(addr string, port int) error {
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return badRequest("invalid --data-path-addr %q: %v", addr, err)
		}
		if a.Unmap() != h.DataAddr.Addr() {
			return badRequest("--data-path-addr %s differs from weftd's data path %s; restart weftd with --data-path-addr %s", a, h.DataAddr.Addr(), a)
		}
	}
	if port != 0 && port != int(h.DataAddr.Port()) {
		return badRequest("--data-path-port %d differs from weftd's data path port %d; restart weftd with --data-path-port %d", port, h.DataAddr.Port(), port)
	}
	return nil
}

// Advertise reads --advertise-addr: IP or IP:PORT, by default the data
// path's address and port 2377.
func (h Host) Advertise(s string) (netip.AddrPort, error) {
	adv, err := hostPort(s, h.DataAddr.Addr(), managerPort)
	if err != nil {
		return adv, badRequest("invalid --advertise-addr %q: %v", s, err)
	}
	return adv, nil
}

// hostPort reads IP or IP:PORT, filling in what is missing.
func hostPort(s string, ip netip.Addr, port uint16) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPortFrom(ip, port), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, errors.New("want IP or IP:PORT")
	}
	return netip.AddrPortFrom(a, port), nil
}

// Init checks the addresses and pool of a cluster init.
func (h Host) Init(req api.ClusterInit) (cluster.InitRequest, error) {
	adv, err := h.Advertise(req.AdvertiseAddr)
	if err != nil {
		return cluster.InitRequest{}, err
	}
	out := cluster.InitRequest{Advertise: adv, Listen: req.ListenAddr, PoolSize: req.PoolMaskLen}
	if out.CertExpiry, err = CertExpiry(req.CertExpiry); err != nil {
		return out, err
	}
	if req.DefaultAddrPool != "" {
		if out.Pool, err = netip.ParsePrefix(req.DefaultAddrPool); err != nil {
			return out, badRequest("invalid --default-addr-pool %q: %v", req.DefaultAddrPool, err)
		}
	}
	return out, nil
}

// CertExpiry reads --cert-expiry, a Go duration ("2160h", "90m") of at
// least pki.MinNodeValidity; empty is zero, the default.
func CertExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, badRequest("invalid --cert-expiry %q: want a duration such as 2160h or 90m", s)
	case d < pki.MinNodeValidity || d > pki.CAValidity:
		return 0, badRequest("invalid --cert-expiry %s: want between %v and %v", s, pki.MinNodeValidity, pki.CAValidity)
	}
	return d, nil
}
