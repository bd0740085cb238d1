//go:build linux

package dockerfw

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// bridgePrefix is the name prefix of weft's bridges (links.BridgeName).
const bridgePrefix = "wbr"

// ctEstablishedRelated is the conntrack match's state mask for
// ESTABLISHED and RELATED (XT_CONNTRACK_STATE_BIT of each).
const ctEstablishedRelated = 1<<(1+0) | 1<<(1+1)

// exprs is rule r as iptables-nft writes it: an interface name prefix
// ("wbr+") compares the prefix's bytes, a whole name compares it and its
// NUL; the conntrack match is xt's, revision 3.
func (r rule) exprs() []expr.Any {
	accept := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}}
	iface := func(key expr.MetaKey, name []byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		}
	}
	whole := append([]byte(r.bridge), 0)
	switch r.kind {
	case wayOut:
		return append(iface(expr.MetaKeyIIFNAME, whole), accept...)
	case replies:
		state := &expr.Match{Name: "conntrack", Rev: 3, Info: &xt.ConntrackMtinfo3{ConntrackMtinfo2: xt.ConntrackMtinfo2{
			ConntrackMtinfoBase: conntrackBase(),
			StateMask:           ctEstablishedRelated,
		}}}
		return append(append(iface(expr.MetaKeyOIFNAME, whole), state), accept...)
	default:
		return append(append(iface(expr.MetaKeyIIFNAME, []byte(bridgePrefix)), iface(expr.MetaKeyOIFNAME, []byte(bridgePrefix))...), accept...)
	}
}

// conntrackBase is the conntrack match's fields for a state match alone:
// the addresses are IPv4 zeros, as iptables writes and reads them.
func conntrackBase() xt.ConntrackMtinfoBase {
	zero := func() net.IP { return net.IPv4zero.To4() }
	mask := func() net.IPMask { return net.IPMask(zero()) }
	return xt.ConntrackMtinfoBase{
		OrigSrcAddr: zero(), OrigSrcMask: mask(), OrigDstAddr: zero(), OrigDstMask: mask(),
		ReplSrcAddr: zero(), ReplSrcMask: mask(), ReplDstAddr: zero(), ReplDstMask: mask(),
		MatchFlags: uint16(xt.ConntrackState),
	}
}

// parse recognises one of weft's rules in a rule read back from the
// chain; nil for any other rule. Counters' values do not count.
func parse(got []expr.Any) *rule {
	name := ifaceName(got)
	if name == "" || !strings.HasPrefix(name, bridgePrefix) {
		return nil
	}
	for _, k := range []kind{bridged, wayOut, replies} {
		r := rule{kind: k, bridge: name}
		if k == bridged {
			r.bridge = ""
		}
		if same(got, r.exprs()) {
			return &r
		}
	}
	return nil
}

// ifaceName is the interface name the rule's first comparison holds,
// without its NUL.
func ifaceName(got []expr.Any) string {
	if len(got) < 2 {
		return ""
	}
	c, ok := got[1].(*expr.Cmp)
	if !ok {
		return ""
	}
	return string(bytes.TrimRight(c.Data, "\x00"))
}

// same reports whether two rules' expressions are alike, counters' values
// aside and the conntrack match compared by what it matches.
func same(got, want []expr.Any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !sameExpr(got[i], want[i]) {
			return false
		}
	}
	return true
}

func sameExpr(got, want expr.Any) bool {
	switch w := want.(type) {
	case *expr.Counter:
		_, ok := got.(*expr.Counter)
		return ok
	case *expr.Match:
		g, ok := got.(*expr.Match)
		if !ok || g.Name != w.Name || g.Rev != w.Rev {
			return false
		}
		gi, ok := g.Info.(*xt.ConntrackMtinfo3)
		wi := w.Info.(*xt.ConntrackMtinfo3)
		return ok && gi.MatchFlags == wi.MatchFlags && gi.InvertFlags == wi.InvertFlags && gi.StateMask == wi.StateMask && gi.StatusMask == wi.StatusMask &&
			gi.L4Proto == 0 && gi.ExpiresMin == 0 && gi.ExpiresMax == 0
	case *expr.Meta:
		g, ok := got.(*expr.Meta)
		return ok && *g == *w
	case *expr.Cmp:
		g, ok := got.(*expr.Cmp)
		return ok && g.Op == w.Op && g.Register == w.Register && bytes.Equal(g.Data, w.Data)
	case *expr.Verdict:
		g, ok := got.(*expr.Verdict)
		return ok && g.Kind == w.Kind && g.Chain == w.Chain
	}
	return false
}

// Sync makes weft's rules in DOCKER-USER what the networks with a way out
// (their bridges) need: the bridged rule always, each way-out bridge's
// two rules, and no other rule of weft's (a removed network's, or a
// duplicate). New rules go at the chain's head, before Docker's RETURN.
// It reports whether it changed the chain, and ErrNoChain when there is
// no chain.
func Sync(wayOutBridges []string) (changed bool, err error) {
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("nftables: list chains: %w", err)
	}
	var chain *nftables.Chain
	for _, ch := range chains {
		if ch.Name == Chain && ch.Table.Name == "filter" {
			chain = ch
		}
	}
	if chain == nil {
		return false, ErrNoChain
	}
	rules, err := c.GetRules(chain.Table, chain)
	if err != nil {
		return false, fmt.Errorf("nftables: rules of %s: %w", Chain, err)
	}
	have := make([]*rule, len(rules))
	for i, r := range rules {
		have[i] = parse(r.Exprs)
	}
	del, add := plan(have, wanted(wayOutBridges))
	if len(del) == 0 && len(add) == 0 {
		return false, nil
	}
	for _, i := range del {
		if err := c.DelRule(rules[i]); err != nil {
			return false, fmt.Errorf("nftables: delete a rule of %s: %w", Chain, err)
		}
	}
	for i := len(add) - 1; i >= 0; i-- {
		c.InsertRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: add[i].exprs()})
	}
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("nftables: update %s: %w", Chain, err)
	}
	return true, nil
}
