// Package dockerfw lets weft's traffic through the Docker engine's
// firewall: frames bridged between the ports of weft's bridges, and the
// routed way out of the networks that have one.
//
// Where br_netfilter is loaded (Docker loads it), frames a Linux bridge
// forwards between its ports pass the iptables FORWARD chain, whose policy
// Docker sets to DROP: a container's frames to weft's TAP on a bridge
// wbr<VNI> would be dropped there, and so would the packets a host routes
// out of a bridge to the world (egress). Docker keeps the chain
// DOCKER-USER, at the head of FORWARD, for the host's own rules; weftd
// keeps its rules there, in the form iptables-nft writes them, so that
// `iptables -S DOCKER-USER` shows them as
//
//	-A DOCKER-USER -i wbr+ -o wbr+ -j ACCEPT
//	-A DOCKER-USER -i wbr<VNI> -j ACCEPT
//	-A DOCKER-USER -o wbr<VNI> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//
// the last two for each network with a way out (not --internal) only; an
// internal network's packets meet Docker's DROP (and weft's own table's).
// No rule goes anywhere else.
package dockerfw

import "errors"

// Chain is Docker's chain for the host's own forwarding rules, in the
// iptables table filter (nftables: table ip filter).
const Chain = "DOCKER-USER"

// ErrNoChain says that Docker's chain is not in nftables: no Docker engine
// with its iptables rules on, or one using iptables-legacy.
var ErrNoChain = errors.New("no " + Chain + " chain in nftables table ip filter (Docker's iptables rules are off, not made yet, or made with iptables-legacy)")

// rule is one of weft's rules in DOCKER-USER.
type rule struct {
	kind   kind
	bridge string // the bridge of a wayOut or reply rule
}

type kind uint8

const (
	bridged kind = iota // -i wbr+ -o wbr+ -j ACCEPT
	wayOut              // -i BRIDGE -j ACCEPT
	replies             // -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
)

// wanted is the rules for the bridges of the networks with a way out, in
// the order they go in the chain.
func wanted(wayOutBridges []string) []rule {
	want := []rule{{kind: bridged}}
	seen := map[string]bool{}
	for _, b := range wayOutBridges {
		if b == "" || seen[b] {
			continue
		}
		seen[b] = true
		want = append(want, rule{kind: wayOut, bridge: b}, rule{kind: replies, bridge: b})
	}
	return want
}

// plan says which of the chain's rules (have, nil for a rule not weft's)
// to delete and which wanted rules to add: weft's rules that are not
// wanted, or wanted but there twice, go; wanted rules not there come.
func plan(have []*rule, want []rule) (del []int, add []rule) {
	wantSet := map[rule]bool{}
	for _, r := range want {
		wantSet[r] = true
	}
	kept := map[rule]bool{}
	for i, r := range have {
		switch {
		case r == nil:
		case wantSet[*r] && !kept[*r]:
			kept[*r] = true
		default:
			del = append(del, i)
		}
	}
	for _, r := range want {
		if !kept[r] {
			add = append(add, r)
		}
	}
	return del, add
}
