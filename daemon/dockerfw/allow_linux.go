//go:build linux

package dockerfw

import (
	"fmt"
	"reflect"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// bridgePrefix is the name prefix of weft's bridges (links.BridgeName).
const bridgePrefix = "wbr"

// exprs is the rule: in on a weft bridge, out on a weft bridge, accept.
// Comparing 3 bytes of the 16-byte name is iptables' "wbr+".
func exprs() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(bridgePrefix)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(bridgePrefix)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// Allow makes sure DOCKER-USER accepts frames bridged between weft's
// bridges' ports, adding the rule at its head unless it is there. It
// reports whether it added it, and ErrNoChain when there is no chain to
// add it to.
func Allow() (added bool, err error) {
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
	for _, r := range rules {
		if isOurs(r.Exprs) {
			return false, nil
		}
	}
	c.InsertRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: exprs()})
	if err := c.Flush(); err != nil {
		return false, fmt.Errorf("nftables: add rule to %s: %w", Chain, err)
	}
	return true, nil
}

// isOurs reports whether a rule read back is the one Allow adds; the
// counter's values do not count.
func isOurs(got []expr.Any) bool {
	want := exprs()
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		_, gotCounter := got[i].(*expr.Counter)
		_, wantCounter := want[i].(*expr.Counter)
		if gotCounter != wantCounter || !gotCounter && !reflect.DeepEqual(got[i], want[i]) {
			return false
		}
	}
	return true
}
