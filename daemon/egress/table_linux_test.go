package egress

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"github.com/weftnet/weft/internal/nstest"
)

// scratchNetns makes a network namespace for the test and returns a
// descriptor of it; the namespace goes when the test ends.
func scratchNetns(t *testing.T) int {
	t.Helper()
	name := nstest.ScratchNetns(t, "weft-egress")
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return int(h)
}

// comments is what Read should return for rs.
func comments(rs Ruleset) map[string][]string {
	out := map[string][]string{}
	for _, c := range rs.Chains {
		key := c.Family.String() + " " + c.Name()
		out[key] = []string{}
		for _, r := range c.Rules {
			out[key] = append(out[key], r.Comment)
		}
	}
	return out
}

func TestApplyInScratchNamespace(t *testing.T) {
	tab := &Table{NetNS: scratchNetns(t)}
	both := Build(Desired{Networks: []Network{outNet, inNet}, Published: []Published{web}})
	onlyInternal := Build(Desired{Networks: []Network{inNet}})
	for i, step := range []struct {
		name string
		rs   Ruleset
	}{
		{"first", both},
		{"again: no duplicates", both},
		{"a network and its port removed", onlyInternal},
		{"back", both},
		{"nothing: the tables go", Build(Desired{})},
		{"from nothing", onlyInternal},
	} {
		if err := tab.Apply(step.rs); err != nil {
			t.Fatalf("step %d (%s): Apply: %v", i, step.name, err)
		}
		got, err := tab.Read()
		if err != nil {
			t.Fatalf("step %d (%s): Read: %v", i, step.name, err)
		}
		if want := comments(step.rs); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("step %d (%s): the kernel holds\n%v\nwant\n%v", i, step.name, got, want)
		}
	}
}

func TestApplyLeavesOtherTablesAlone(t *testing.T) {
	fd := scratchNetns(t)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	other := c.AddTable(&nftables.Table{Name: "someone-else", Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "theirs", Table: other})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	mine := &Table{NetNS: fd}
	for _, rs := range []Ruleset{Build(Desired{Networks: []Network{outNet}}), {}} {
		if err := mine.Apply(rs); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListChain(other, "theirs"); err != nil {
			t.Fatalf("after Apply of %d chains, another table's chain is gone: %v", len(rs.Chains), err)
		}
	}
	if got, err := mine.Read(); err != nil || len(got) != 0 {
		t.Fatalf("after an empty Apply: %v, %v; want no chains of weft's", got, err)
	}
}
