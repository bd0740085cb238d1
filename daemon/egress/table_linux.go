package egress

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// forwardingSysctl is the host's IPv4 forwarding switch.
const forwardingSysctl = "/proc/sys/net/ipv4/ip_forward"

// Apply makes weft's tables hold exactly rs, replacing what they held in
// one batch that the kernel applies whole or not at all; tables rs has no
// chains for are removed. In this process's namespace it turns IPv4
// forwarding on when rs needs it, and says so in the log.
func (t *Table) Apply(rs Ruleset) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.conn()
	if err != nil {
		return err
	}
	for _, f := range []Family{Inet, Bridge} {
		tab := &nftables.Table{Name: TableName, Family: f.family()}
		c.AddTable(tab) // so that the delete finds it on a first run
		c.DelTable(tab)
		if rs.has(f) {
			c.AddTable(tab)
			addChains(c, tab, rs, f)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("program nftables table %s: %w", TableName, err)
	}
	if rs.Forwarding && t.NetNS == 0 {
		return t.forwardLocked()
	}
	return nil
}

// has reports whether rs has a chain of family f.
func (rs Ruleset) has(f Family) bool {
	for _, c := range rs.Chains {
		if c.Family == f {
			return true
		}
	}
	return false
}

// addChains queues rs's chains of family f, with their rules, in tab.
func addChains(c *nftables.Conn, tab *nftables.Table, rs Ruleset, f Family) {
	accept := nftables.ChainPolicyAccept
	for _, ch := range rs.Chains {
		if ch.Family != f {
			continue
		}
		typ, prio := ch.chainType()
		nch := c.AddChain(&nftables.Chain{Name: ch.Name(), Table: tab, Type: typ, Hooknum: ch.Hook.hook(), Priority: prio, Policy: &accept})
		for _, r := range ch.Rules {
			c.AddRule(&nftables.Rule{Table: tab, Chain: nch, Exprs: r.exprs(f), UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment)})
		}
	}
}

// Read returns the comments of the rules in weft's tables, by chain
// ("inet forward"), in order: what Apply last programmed, as the kernel
// holds it.
func (t *Table) Read() (map[string][]string, error) {
	c, err := t.conn()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, f := range []Family{Inet, Bridge} {
		tab := &nftables.Table{Name: TableName, Family: f.family()}
		chains, err := c.ListChainsOfTableFamily(f.family())
		if err != nil {
			return nil, fmt.Errorf("list nftables chains: %w", err)
		}
		for _, ch := range chains {
			if ch.Table.Name != TableName {
				continue
			}
			rules, err := c.GetRules(tab, ch)
			if err != nil {
				return nil, fmt.Errorf("list rules of %s %s: %w", f, ch.Name, err)
			}
			key := f.String() + " " + ch.Name
			out[key] = []string{}
			for _, r := range rules {
				comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
				out[key] = append(out[key], comment)
			}
		}
	}
	return out, nil
}

func (t *Table) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if t.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(t.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// forwardLocked turns IPv4 forwarding on if it is off, and logs that it did
// once. The caller holds t.mu.
func (t *Table) forwardLocked() error {
	raw, err := os.ReadFile(forwardingSysctl)
	if err != nil {
		return fmt.Errorf("read %s: %w", forwardingSysctl, err)
	}
	if strings.TrimSpace(string(raw)) == "1" {
		if !t.forwardOn && t.Log != nil {
			t.Log.Info("IPv4 forwarding is on: weft's networks with a gateway use it", "sysctl", forwardingSysctl)
		}
		t.forwardOn = true
		return nil
	}
	if err := os.WriteFile(forwardingSysctl, []byte("1\n"), 0o644); err != nil {
		return errors.Join(fmt.Errorf("turn on IPv4 forwarding (%s), which networks with a gateway need", forwardingSysctl), err)
	}
	if t.Log != nil {
		t.Log.Info("turned IPv4 forwarding on for weft's networks with a gateway", "sysctl", forwardingSysctl)
	}
	t.forwardOn = true
	return nil
}
