package store

import "net/netip"

// lastAddr returns the highest address of p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// reservesEnds reports whether p keeps its lowest address (the IPv4 network
// address, the IPv6 subnet-router anycast address) and, for IPv4, its highest
// (broadcast) out of use. Point-to-point /31 and /127 (RFC 3021, RFC 6164)
// and single-address prefixes reserve nothing.
func reservesEnds(p netip.Prefix) bool {
	return p.Addr().BitLen()-p.Bits() >= 2
}

// usableBounds returns the lowest and highest addresses of subnet that an
// endpoint or gateway may take.
func usableBounds(subnet netip.Prefix) (lo, hi netip.Addr) {
	lo, hi = subnet.Masked().Addr(), lastAddr(subnet)
	if reservesEnds(subnet) {
		lo = lo.Next()
		if lo.Is4() {
			hi = hi.Prev()
		}
	}
	return lo, hi
}

// inBounds reports whether lo <= a <= hi.
func inBounds(a, lo, hi netip.Addr) bool {
	return lo.Compare(a) <= 0 && a.Compare(hi) <= 0
}

// checkPrefix returns a reason p cannot be a subnet, pool or range, or "".
func checkPrefix(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "is not a valid prefix"
	case p.Addr().Is4In6():
		return "is an IPv4-mapped IPv6 prefix; use plain IPv4"
	case p.Addr().Zone() != "":
		return "has a zone"
	case p != p.Masked():
		return "has host bits set; did you mean " + p.Masked().String() + "?"
	}
	return ""
}

// nextFree returns the first block of size bits in pool that overlaps none of
// taken, or false if there is none.
func nextFree(pool netip.Prefix, size int, taken []netip.Prefix) (netip.Prefix, bool) {
	for addr := pool.Addr(); addr.IsValid() && pool.Contains(addr); {
		cand := netip.PrefixFrom(addr, size)
		end, clash := lastAddr(cand), false
		for _, t := range taken {
			if t.Overlaps(cand) {
				clash = true
				if t.Bits() < size { // t contains cand: skip all of t
					end = lastAddr(t)
				}
				break
			}
		}
		if !clash {
			return cand, true
		}
		addr = end.Next()
	}
	return netip.Prefix{}, false
}
