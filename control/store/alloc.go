package store

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

func (s *State) allocate(req *Allocation) (any, error) {
	if req == nil {
		return nil, errorf(ErrInvalid, "allocate: command has no allocation")
	}
	if err := allocationSizes(req); err != nil {
		return nil, fmt.Errorf("allocate: %w", err)
	}
	if req.EndpointID == "" {
		return nil, errorf(ErrInvalid, "allocate %s: empty endpoint ID", req.Name)
	}
	if old, ok := s.Allocations[req.EndpointID]; ok {
		return s.reallocate(old, req)
	}
	n, ok := s.Networks[req.NetworkID]
	if !ok {
		return nil, errorf(ErrNotFound, "allocate %s: no such network %q", req.label(), req.NetworkID)
	}
	where := fmt.Sprintf("allocate %s on network %s", req.label(), n.Name)
	if _, ok := s.Nodes[req.Node]; !ok {
		return nil, errorf(ErrNotFound, "%s: no such node %q", where, req.Node)
	}
	peers := s.NetworkAllocations(n.ID)
	a := req.clone()
	for _, step := range []func(*Network, *Allocation, []*Allocation) error{checkName, pickIP, pickMAC} {
		if err := step(n, &a, peers); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	s.Allocations[a.EndpointID] = &a
	return a.clone(), nil
}

// reallocate answers an Allocate for an endpoint that already has an
// address: a repeat of the same request gets the same allocation back, a
// different one is refused.
func (s *State) reallocate(old, req *Allocation) (any, error) {
	if old.NetworkID != req.NetworkID || old.Node != req.Node || (req.IP.IsValid() && req.IP != old.IP) {
		return nil, errorf(ErrConflict, "allocate %s: endpoint %s already has %s on network %s on node %s",
			req.label(), req.EndpointID, old.IP, s.networkName(old.NetworkID), old.Node)
	}
	return old.clone(), nil
}

func checkName(n *Network, a *Allocation, peers []*Allocation) error {
	if a.Name == "" {
		return nil
	}
	for _, p := range peers {
		if strings.EqualFold(p.Name, a.Name) { // DNS names are case-insensitive
			return errorf(ErrConflict, "name %s is already used on network %s by node %s", a.Name, n.Name, p.Node)
		}
	}
	return nil
}

// pickIP checks a requested address or takes the lowest free usable one in
// the network's IP range (or subnet), skipping the gateway.
func pickIP(n *Network, a *Allocation, peers []*Allocation) error {
	used := make(map[netip.Addr]*Allocation, len(peers))
	for _, p := range peers {
		used[p.IP] = p
	}
	if a.IP.IsValid() {
		if err := usable(n, a.IP); err != nil {
			return err
		}
		if p, ok := used[a.IP]; ok {
			return errorf(ErrConflict, "address %s already in use by %s on node %s", a.IP, p.label(), p.Node)
		}
		return nil
	}
	lo, hi := allocBounds(n)
	for ip := lo; ip.IsValid() && ip.Compare(hi) <= 0; ip = ip.Next() {
		if _, taken := used[ip]; !taken && ip != n.Gateway {
			a.IP = ip
			return nil
		}
	}
	return errorf(ErrExhausted, "no free address left in %s", rangeOf(n))
}

// usable returns why ip cannot be given to an endpoint on n, or nil.
func usable(n *Network, ip netip.Addr) error {
	lo, hi := usableBounds(n.Subnet)
	switch {
	case !n.Subnet.Contains(ip):
		return errorf(ErrInvalid, "address %s is outside network %s's subnet %s", ip, n.Name, n.Subnet)
	case n.IPRange.IsValid() && !n.IPRange.Contains(ip):
		return errorf(ErrInvalid, "address %s is outside network %s's IP range %s", ip, n.Name, n.IPRange)
	case !inBounds(ip, lo, hi):
		return errorf(ErrInvalid, "address %s is the network or broadcast address of subnet %s", ip, n.Subnet)
	case ip == n.Gateway:
		return errorf(ErrConflict, "address %s is network %s's gateway", ip, n.Name)
	}
	return nil
}

// allocBounds returns the lowest and highest addresses endpoints on n may
// take.
func allocBounds(n *Network) (lo, hi netip.Addr) {
	lo, hi = usableBounds(n.Subnet)
	if r := n.IPRange; r.IsValid() {
		lo, hi = maxAddr(lo, r.Masked().Addr()), minAddr(hi, lastAddr(r))
	}
	return lo, hi
}

func rangeOf(n *Network) netip.Prefix {
	if n.IPRange.IsValid() {
		return n.IPRange
	}
	return n.Subnet
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// pickMAC canonicalizes a requested MAC or derives one from the address as
// Docker does (02:42 followed by the IPv4 address, or the last four bytes of
// an IPv6 one), and checks it is unique on the network.
func pickMAC(n *Network, a *Allocation, peers []*Allocation) error {
	if a.MAC == "" {
		b := a.IP.AsSlice()
		a.MAC = net.HardwareAddr(append([]byte{0x02, 0x42}, b[len(b)-4:]...)).String()
	} else {
		hw, err := net.ParseMAC(a.MAC)
		if err != nil || len(hw) != 6 {
			return errorf(ErrInvalid, "MAC %q is not a 48-bit MAC address", a.MAC)
		}
		a.MAC = hw.String()
	}
	for _, p := range peers {
		if p.MAC == a.MAC {
			return errorf(ErrConflict, "MAC %s already in use by %s on node %s", a.MAC, p.label(), p.Node)
		}
	}
	return nil
}

func (s *State) release(endpointID string) {
	delete(s.Allocations, endpointID)
}

// setNames gives an allocation a new name and aliases. Only the node the
// endpoint lives on may (req.Node must be its node), and the name must be
// free on the network, as allocate requires.
func (s *State) setNames(req *Allocation) (any, error) {
	if req == nil {
		return nil, errorf(ErrInvalid, "set names: command has no allocation")
	}
	if err := allocationSizes(req); err != nil {
		return nil, fmt.Errorf("set names: %w", err)
	}
	old, ok := s.Allocations[req.EndpointID]
	if !ok {
		return nil, errorf(ErrNotFound, "set names %s: no allocation for endpoint %q", req.label(), req.EndpointID)
	}
	if old.Node != req.Node {
		return nil, errorf(ErrForbidden, "set names %s: endpoint %s is node %s's, not node %s's", req.label(), req.EndpointID, old.Node, req.Node)
	}
	var peers []*Allocation
	for _, p := range s.NetworkAllocations(old.NetworkID) {
		if p.EndpointID != old.EndpointID {
			peers = append(peers, p)
		}
	}
	n, ok := s.Networks[old.NetworkID]
	if !ok {
		return nil, errorf(ErrNotFound, "set names %s: no such network %q", req.label(), old.NetworkID)
	}
	a := old.clone()
	a.Name, a.Aliases = req.Name, slices.Clone(req.Aliases)
	if err := checkName(n, &a, peers); err != nil {
		return nil, fmt.Errorf("set names %s on network %s: %w", a.label(), n.Name, err)
	}
	s.Allocations[a.EndpointID] = &a
	return a.clone(), nil
}
