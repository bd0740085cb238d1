package vtep

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/weftnet/weft/fdb"
)

// NetworkState is what a control plane that knows every remote endpoint of
// a network says of it. Apply replaces the state before it whole.
type NetworkState struct {
	// Peers are the VTEPs that broadcast, multicast and unknown unicast
	// frames are replicated to.
	Peers []netip.AddrPort
	// MACs maps every remote MAC to the VTEP it lives behind.
	MACs map[fdb.MAC]netip.AddrPort
	// IPs maps every remote address to its MAC; ARP requests for them are
	// answered from here. List each address in one form (IPv4, not
	// IPv4-in-IPv6).
	IPs map[netip.Addr]fdb.MAC
	// Crypto is an encrypted network's SAs (see SetCrypto); nil on a
	// plaintext network, and on an encrypted one to leave them as they are.
	Crypto *Crypto
}

// Apply makes a network's SAs, static FDB rows and peers those of s, in
// that order, so that a frame sent to a new peer finds its SA. The FDB
// rows change as one change set (fdb.Table.ReplaceStatic). Then every
// address whose MAC is new or changed is announced into the network's TAP
// (see Announce), so that containers drop neighbour entries that still
// name an address's previous owner; an announcement that fails is logged
// at debug level, as it only hastens what ARP's own timeouts do.
func (e *Engine) Apply(vni uint32, s NetworkState) error {
	n, changed, err := e.applyLocked(vni, s)
	if err != nil {
		return err
	}
	for _, ip := range changed {
		if err := n.announce(ip, s.IPs[ip]); err != nil && !errors.Is(err, net.ErrClosed) {
			e.debugErr("announce failed", n, fmt.Errorf("%s: %w", ip, err))
		}
	}
	return nil
}

// applyLocked applies everything but the announcements under e.mu, so
// that a network being removed is either programmed before its rows are
// deleted or not at all. It returns the network and the addresses to
// announce.
func (e *Engine) applyLocked(vni uint32, s NetworkState) (*network, []netip.Addr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := (*e.nets.Load())[vni]
	if !ok {
		return nil, nil, fmt.Errorf("vtep: no network with VNI %d", vni)
	}
	if s.Crypto != nil {
		if err := e.setCryptoLocked(n, *s.Crypto); err != nil {
			return nil, nil, err
		}
	}
	changed := e.fdb.ReplaceStatic(vni, s.MACs, s.IPs)
	n.setPeers(s.Peers)
	e.syncPeers()
	return n, changed, nil
}
