package store

import (
	"errors"
	"fmt"
	"net/netip"
)

func (s *State) createNetwork(req *Network) (any, error) {
	if req == nil {
		return nil, errorf(ErrInvalid, "create network: command has no network")
	}
	if req.Name == "" {
		return nil, errorf(ErrInvalid, "create network (ID %q): empty name", req.ID)
	}
	if err := networkSizes(req); err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	n := req.clone()
	n.Created = n.Created.UTC()
	for _, step := range []func(*Network) error{s.checkNetworkIdentity, s.pickVNI, s.pickSubnet, checkGateway, checkIPRange, firstKey} {
		if err := step(&n); err != nil {
			return nil, err
		}
	}
	s.Networks[n.ID] = &n
	return n.clone(), nil
}

func (s *State) checkNetworkIdentity(n *Network) error {
	if n.ID == "" {
		return errorf(ErrInvalid, "create network %s: empty network ID", n.Name)
	}
	if o, ok := s.Networks[n.ID]; ok {
		return errorf(ErrConflict, "create network %s: network ID %s already used by network %s", n.Name, n.ID, o.Name)
	}
	if s.NetworkByName(n.Name) != nil {
		return errorf(ErrConflict, "create network %s: network %s already exists", n.Name, n.Name)
	}
	if n.MTU < 0 || n.MTU > 65535 {
		return errorf(ErrInvalid, "create network %s: MTU %d is outside 0..65535", n.Name, n.MTU)
	}
	return nil
}

// pickVNI checks a requested VNI or assigns the lowest free one at or above
// MinAutoVNI.
func (s *State) pickVNI(n *Network) error {
	used := make(map[uint32]string, len(s.Networks))
	for _, o := range s.Networks {
		used[o.VNI] = o.Name
	}
	if n.VNI != 0 {
		if n.VNI > MaxVNI {
			return errorf(ErrInvalid, "create network %s: VNI %d is above %d", n.Name, n.VNI, MaxVNI)
		}
		if o, ok := used[n.VNI]; ok {
			return errorf(ErrConflict, "create network %s: VNI %d already used by network %s", n.Name, n.VNI, o)
		}
		return nil
	}
	for v := uint32(MinAutoVNI); v <= MaxVNI; v++ {
		if _, ok := used[v]; !ok {
			n.VNI = v
			return nil
		}
	}
	return errorf(ErrExhausted, "create network %s: no free VNI in %d..%d", n.Name, MinAutoVNI, MaxVNI)
}

// pickSubnet checks a requested subnet against every other network's, or
// carves the first free block out of the default pool.
func (s *State) pickSubnet(n *Network) error {
	if n.Subnet.IsValid() {
		if why := checkPrefix(n.Subnet); why != "" {
			return errorf(ErrInvalid, "create network %s: subnet %s %s", n.Name, n.Subnet, why)
		}
		for _, o := range s.sortedNetworks() {
			if o.Subnet.Overlaps(n.Subnet) {
				return errorf(ErrConflict, "create network %s: subnet %s overlaps network %s's subnet %s", n.Name, n.Subnet, o.Name, o.Subnet)
			}
		}
		return nil
	}
	sub, err := s.FreeSubnet()
	if err != nil {
		return errorf(errors.Unwrap(err), "create network %s: %v", n.Name, err)
	}
	n.Subnet = sub
	return nil
}

// FreeSubnet returns the subnet a network created without one gets: the
// first block of the default pool that no network's subnet overlaps. Its
// error is an ErrInvalid (no default pool) or an ErrExhausted.
func (s *State) FreeSubnet() (netip.Prefix, error) {
	if !s.DefaultPool.IsValid() {
		return netip.Prefix{}, errorf(ErrInvalid, "no subnet given and no default address pool")
	}
	taken := make([]netip.Prefix, 0, len(s.Networks))
	for _, o := range s.Networks {
		taken = append(taken, o.Subnet)
	}
	sub, ok := nextFree(s.DefaultPool, s.DefaultPoolSize, taken)
	if !ok {
		return netip.Prefix{}, errorf(ErrExhausted, "default address pool %s has no free /%d left", s.DefaultPool, s.DefaultPoolSize)
	}
	return sub, nil
}

// checkGateway checks a requested gateway or sets the subnet's first usable
// address, as Docker does.
func checkGateway(n *Network) error {
	lo, hi := usableBounds(n.Subnet)
	if !n.Gateway.IsValid() {
		n.Gateway = lo
		return nil
	}
	if !n.Subnet.Contains(n.Gateway) {
		return errorf(ErrInvalid, "create network %s: gateway %s is outside subnet %s", n.Name, n.Gateway, n.Subnet)
	}
	if !inBounds(n.Gateway, lo, hi) {
		return errorf(ErrInvalid, "create network %s: gateway %s is subnet %s's network or broadcast address", n.Name, n.Gateway, n.Subnet)
	}
	return nil
}

func checkIPRange(n *Network) error {
	r := n.IPRange
	if !r.IsValid() {
		return nil
	}
	if why := checkPrefix(r); why != "" {
		return errorf(ErrInvalid, "create network %s: IP range %s %s", n.Name, r, why)
	}
	if r.Bits() < n.Subnet.Bits() || !n.Subnet.Contains(r.Addr()) {
		return errorf(ErrInvalid, "create network %s: IP range %s is not inside subnet %s", n.Name, r, n.Subnet)
	}
	return nil
}

func (s *State) removeNetwork(id string) error {
	n, ok := s.Networks[id]
	if !ok {
		return errorf(ErrNotFound, "remove network %s: no such network", id)
	}
	if allocs := s.NetworkAllocations(id); len(allocs) > 0 {
		return errorf(ErrConflict, "remove network %s: network %s has active endpoints: %s",
			n.Name, n.Name, s.describe(allocs, func(a *Allocation) string { return "on node " + a.Node }))
	}
	delete(s.Networks, id)
	return nil
}

func (s *State) setDefaultPool(pool netip.Prefix, size int) error {
	if why := checkPrefix(pool); why != "" {
		return errorf(ErrInvalid, "set default address pool: pool %s %s", pool, why)
	}
	if size < pool.Bits() || size > pool.Addr().BitLen() {
		return errorf(ErrInvalid, "set default address pool %s: subnet size /%d is outside /%d../%d", pool, size, pool.Bits(), pool.Addr().BitLen())
	}
	s.DefaultPool, s.DefaultPoolSize = pool, size
	return nil
}

// firstKey checks the keys of a new network: an encrypted one comes with
// exactly one, which becomes generation 1; others with none.
func firstKey(n *Network) error {
	switch {
	case !n.Encrypted && len(n.Keys) > 0:
		return errorf(ErrInvalid, "create network %s: keys given for a network that is not encrypted", n.Name)
	case !n.Encrypted:
		return nil
	case len(n.Keys) != 1:
		return errorf(ErrInvalid, "create network %s: an encrypted network needs exactly one first key, got %d", n.Name, len(n.Keys))
	}
	keys, _, err := addKey(nil, &n.Keys[0], MaxNetworkKeys, "create network "+n.Name)
	n.Keys = keys
	return err
}
