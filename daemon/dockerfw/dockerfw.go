// Package dockerfw lets frames bridged between the ports of weft's
// bridges through the Docker engine's firewall.
//
// Where br_netfilter is loaded (Docker loads it), frames a Linux bridge
// forwards between its ports pass the iptables FORWARD chain, whose policy
// Docker sets to DROP: a container's frames to weft's TAP on a bridge
// wbr<VNI> would be dropped there. Docker keeps the chain DOCKER-USER, at
// the head of FORWARD, for the host's own rules; weftd puts one there,
// `-i wbr+ -o wbr+ -j ACCEPT`, in the form iptables-nft writes it, so that
// `iptables -L DOCKER-USER` shows it as such. No rule goes anywhere else.
package dockerfw

import "errors"

// Chain is Docker's chain for the host's own forwarding rules, in the
// iptables table filter (nftables: table ip filter).
const Chain = "DOCKER-USER"

// ErrNoChain says that Docker's chain is not in nftables: no Docker engine
// with its iptables rules on, or one using iptables-legacy.
var ErrNoChain = errors.New("no " + Chain + " chain in nftables table ip filter (Docker's iptables rules are off, not made yet, or made with iptables-legacy)")
