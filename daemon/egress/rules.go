package egress

import (
	"fmt"
	"net/netip"
)

// TableName is the name of weft's tables, in the inet and bridge families.
const TableName = "weft"

// Family is the nftables family of a chain.
type Family uint8

// The families weft's tables are in.
const (
	Inet   Family = iota // routed traffic: forwarding, NAT, the host's input
	Bridge               // frames on the networks' bridges
)

func (f Family) String() string {
	if f == Bridge {
		return "bridge"
	}
	return "inet"
}

// Hook is where a chain sees packets.
type Hook uint8

// The hooks weft's chains use.
const (
	Prerouting Hook = iota
	Input
	Forward
	Output
	Postrouting
)

var hookNames = [...]string{"prerouting", "input", "forward", "output", "postrouting"}

func (h Hook) String() string { return hookNames[h] }

// Chain is one base chain of weft's tables, with its rules in order. Every
// chain's policy is accept: weft only drops what it must and never
// overrides another table's drop.
type Chain struct {
	Family Family
	Hook   Hook
	NAT    bool // a nat chain, else a filter chain
	Rules  []Rule
}

// Name is the chain's name in its table: its hook's.
func (c Chain) Name() string { return c.Hook.String() }

// Verdict is what a rule does with a packet it matches.
type Verdict uint8

// The verdicts weft's rules give.
const (
	Accept Verdict = iota
	Drop
	Masquerade
	DNAT // to Rule.To
)

// Rule is one rule: every match that is set must hold. The zero value of a
// match means "any".
type Rule struct {
	Comment   string       // why the rule is there, kept in the rule's user data
	IIf       string       // input interface name
	OIf       string       // output interface name
	NotOIf    string       // output interface is not this one
	Src       netip.Prefix // source address
	NotDst    netip.Prefix // destination address is outside this prefix
	LocalDst  bool         // destination is one of the host's addresses
	Proto     Proto        // with DPort: transport protocol
	DPort     uint16       // destination port
	CtReply   bool         // part of a connection already seen both ways (established or related)
	CtDNAT    bool         // destination-NATed (a published port)
	ARPTarget netip.Addr   // bridge chains: an ARP packet asking for or about this address
	Verdict   Verdict
	To        netip.AddrPort // DNAT's destination
}

// Ruleset is the whole content of weft's tables. Tables with no chains are
// removed.
type Ruleset struct {
	Chains []Chain
	// Forwarding is set when some network has a way out: the host must
	// forward IPv4.
	Forwarding bool
}

// Chain returns the ruleset's chain of family f at hook h.
func (r *Ruleset) Chain(f Family, h Hook) *Chain {
	for i := range r.Chains {
		if r.Chains[i].Family == f && r.Chains[i].Hook == h {
			return &r.Chains[i]
		}
	}
	return nil
}

// Build turns what the daemon wants into weft's rules: for every network,
// isolation (nothing is routed into a bridge but replies and published
// ports), and either its way out (masquerade to the host's address, and
// the gateway kept off the overlay) or, for an internal network, nothing
// forwarded and nothing to the host; and for every published port, its
// DNAT. With no networks it is empty, and the tables go.
func Build(want Desired) Ruleset {
	want = want.sorted()
	if len(want.Networks) == 0 {
		return Ruleset{}
	}
	r := Ruleset{Chains: []Chain{
		{Family: Inet, Hook: Prerouting, NAT: true},
		{Family: Inet, Hook: Input},
		{Family: Inet, Hook: Forward},
		{Family: Inet, Hook: Output, NAT: true},
		{Family: Inet, Hook: Postrouting, NAT: true},
		{Family: Bridge, Hook: Input},
		{Family: Bridge, Hook: Forward},
		{Family: Bridge, Hook: Output},
	}}
	for _, n := range want.Networks {
		r.add(Inet, Forward, isolation(n)...)
		if n.Internal {
			r.add(Inet, Input, Rule{Comment: n.Name + " is internal: its containers reach nothing on the host", IIf: n.Bridge, Verdict: Drop})
		}
		if n.WayOut() {
			r.Forwarding = true
			r.add(Inet, Postrouting, Rule{Comment: n.Name + ": out with the host's address", Src: n.Subnet, NotOIf: n.Bridge, Verdict: Masquerade})
			r.addGatewayLocal(n)
		}
	}
	for _, p := range want.Published {
		r.add(Inet, Prerouting, dnat(p, netip.Prefix{}))
		r.add(Inet, Output, dnat(p, loopback(p.Addr)))
	}
	return r
}

func (r *Ruleset) add(f Family, h Hook, rules ...Rule) {
	c := r.Chain(f, h)
	c.Rules = append(c.Rules, rules...)
}

// isolation is what may be routed into and out of network n: bridged
// frames pass (when br_netfilter shows them to the inet hooks, as Docker
// makes it), replies and published ports come in, nothing else does; an
// internal network's containers send nothing out either.
func isolation(n Network) []Rule {
	rules := []Rule{{Comment: n.Name + ": bridged within the network", IIf: n.Bridge, OIf: n.Bridge, Verdict: Accept}}
	if n.Internal {
		return append(rules,
			Rule{Comment: n.Name + " is internal: nothing leaves it", IIf: n.Bridge, Verdict: Drop},
			Rule{Comment: n.Name + " is internal: nothing enters it", OIf: n.Bridge, Verdict: Drop})
	}
	return append(rules,
		Rule{Comment: n.Name + ": replies come in", OIf: n.Bridge, CtReply: true, Verdict: Accept},
		Rule{Comment: n.Name + ": published ports come in", OIf: n.Bridge, CtDNAT: true, Verdict: Accept},
		Rule{Comment: n.Name + ": nothing else enters it", OIf: n.Bridge, Verdict: Drop})
}

// addGatewayLocal keeps network n's gateway on this host's bridge: every
// host has the same gateway address, so the containers' ARP for it and
// the host's own frames on the bridge never go over the overlay, and a
// remote container's question about it is not answered here.
func (r *Ruleset) addGatewayLocal(n Network) {
	r.add(Bridge, Forward, Rule{Comment: n.Name + ": ARP for the gateway stays on this host", OIf: n.TAP, ARPTarget: n.Gateway, Verdict: Drop})
	r.add(Bridge, Input, Rule{Comment: n.Name + ": ARP for another host's gateway is not answered here", IIf: n.TAP, ARPTarget: n.Gateway, Verdict: Drop})
	r.add(Bridge, Output, Rule{Comment: n.Name + ": the gateway's own frames stay on this host", OIf: n.TAP, Verdict: Drop})
}

// dnat sends a published port's traffic to the host's own addresses (but
// not those in notDst) to its container.
func dnat(p Published, notDst netip.Prefix) Rule {
	return Rule{
		Comment:  fmt.Sprintf("%s: %s to %s (%s)", p.Network, p.HostSide(), netip.AddrPortFrom(p.Addr, p.ContainerPort), p.Container),
		LocalDst: true, NotDst: notDst, Proto: p.Proto, DPort: p.HostPort, Verdict: DNAT, To: netip.AddrPortFrom(p.Addr, p.ContainerPort),
	}
}

// loopback is the loopback prefix of a's family: the host's own connections
// to it are left alone (a DNAT of a loopback source is dropped as martian).
func loopback(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return netip.MustParsePrefix("127.0.0.0/8")
	}
	return netip.MustParsePrefix("::1/128")
}
