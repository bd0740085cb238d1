package egress

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// exprs turns a rule into nftables expressions: its matches in a fixed
// order, then its verdict. Register 1 holds what a match compares.
func (r Rule) exprs(f Family) []expr.Any {
	var e []expr.Any
	e = append(e, ifname(expr.MetaKeyIIFNAME, r.IIf, expr.CmpOpEq)...)
	e = append(e, ifname(expr.MetaKeyOIFNAME, r.OIf, expr.CmpOpEq)...)
	e = append(e, ifname(expr.MetaKeyOIFNAME, r.NotOIf, expr.CmpOpNeq)...)
	e = append(e, addrMatch(r.Src, true, expr.CmpOpEq)...)
	e = append(e, addrMatch(r.NotDst, false, expr.CmpOpNeq)...)
	if r.LocalDst {
		e = append(e,
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
	}
	if r.DPort != 0 {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Proto)}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.DPort)})
	}
	if r.CtReply {
		e = append(e, ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)...)
	}
	if r.CtDNAT {
		e = append(e, ctBits(expr.CtKeySTATUS, ipsDstNAT)...)
	}
	if r.ARPTarget.IsValid() {
		e = append(e, arpTarget(r.ARPTarget)...)
	}
	return append(e, r.verdict()...)
}

// ipsDstNAT is the conntrack status bit of a destination-NATed connection
// (IPS_DST_NAT in linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5

func (r Rule) verdict() []expr.Any {
	switch r.Verdict {
	case Drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	case Masquerade:
		return []expr.Any{&expr.Masq{}}
	case DNAT:
		fam := uint32(unix.NFPROTO_IPV4)
		if r.To.Addr().Is6() {
			fam = unix.NFPROTO_IPV6
		}
		return []expr.Any{
			&expr.Immediate{Register: 1, Data: r.To.Addr().AsSlice()},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.To.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
	}
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
}

// ifname matches an interface name; an empty name matches anything.
func ifname(key expr.MetaKey, name string, op expr.CmpOp) []expr.Any {
	if name == "" {
		return nil
	}
	data := make([]byte, unix.IFNAMSIZ)
	copy(data, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: data}}
}

// addrMatch matches the source (or destination) address against a prefix:
// the packet's family first, then its address masked to the prefix.
func addrMatch(p netip.Prefix, src bool, op expr.CmpOp) []expr.Any {
	if !p.IsValid() {
		return nil
	}
	proto, off := byte(unix.NFPROTO_IPV4), uint32(12) // IPv4 source; destination at 16
	if p.Addr().Is6() {
		proto, off = unix.NFPROTO_IPV6, 8 // IPv6 source; destination at 24
	}
	size := uint32(p.Addr().BitLen() / 8)
	if !src {
		off += size
	}
	mask := netip.PrefixFrom(p.Addr(), p.Bits()).Masked()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: prefixMask(p), Xor: make([]byte, size)},
		&expr.Cmp{Op: op, Register: 1, Data: mask.Addr().AsSlice()},
	}
}

// prefixMask is the netmask of p, as bytes.
func prefixMask(p netip.Prefix) []byte {
	m := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// ctBits matches a connection whose state or status has one of bits set.
func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// arpTarget matches an IPv4-over-Ethernet ARP packet whose target protocol
// address is a: 8 bytes of header, the sender's 6+4, the target's 6, then
// the target's address at 24.
func arpTarget(a netip.Addr) []expr.Any {
	var ethARP [2]byte
	binary.BigEndian.PutUint16(ethARP[:], unix.ETH_P_ARP)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ethARP[:]},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

// family is the nftables family of f.
func (f Family) family() nftables.TableFamily {
	if f == Bridge {
		return nftables.TableFamilyBridge
	}
	return nftables.TableFamilyINet
}

// hook is the nftables hook of h.
func (h Hook) hook() *nftables.ChainHook {
	return [...]*nftables.ChainHook{nftables.ChainHookPrerouting, nftables.ChainHookInput, nftables.ChainHookForward, nftables.ChainHookOutput, nftables.ChainHookPostrouting}[h]
}

// chainType and priority place a chain: NAT chains where nft puts dstnat
// and srcnat, filter chains at filter.
func (c Chain) chainType() (nftables.ChainType, *nftables.ChainPriority) {
	switch {
	case !c.NAT:
		return nftables.ChainTypeFilter, nftables.ChainPriorityFilter
	case c.Hook == Postrouting:
		return nftables.ChainTypeNAT, nftables.ChainPriorityNATSource
	}
	return nftables.ChainTypeNAT, nftables.ChainPriorityNATDest
}
