package dockerfw

import (
	"slices"
	"testing"
)

func TestWanted(t *testing.T) {
	got := wanted([]string{"wbr7", "", "wbr9", "wbr7"})
	want := []rule{{kind: bridged}, {kind: wayOut, bridge: "wbr7"}, {kind: replies, bridge: "wbr7"}, {kind: wayOut, bridge: "wbr9"}, {kind: replies, bridge: "wbr9"}}
	if !slices.Equal(got, want) {
		t.Errorf("wanted = %v; want %v", got, want)
	}
}

func TestPlan(t *testing.T) {
	out7 := &rule{kind: wayOut, bridge: "wbr7"}
	in7 := &rule{kind: replies, bridge: "wbr7"}
	out8 := &rule{kind: wayOut, bridge: "wbr8"}
	br := &rule{kind: bridged}
	for _, c := range []struct {
		name    string
		have    []*rule
		bridges []string
		del     []int
		add     []rule
	}{
		{"empty chain", []*rule{nil}, []string{"wbr7"}, nil, []rule{*br, *out7, *in7}},
		{"all there", []*rule{br, nil, out7, in7}, []string{"wbr7"}, nil, nil},
		{"duplicates go", []*rule{br, out7, br, in7, in7}, []string{"wbr7"}, []int{2, 4}, nil},
		{"a removed network's rules go", []*rule{br, out8, out7, in7, nil}, []string{"wbr7"}, []int{1}, nil},
		{"internal now", []*rule{br, out7, in7}, nil, []int{1, 2}, nil},
		{"others' rules stay", []*rule{nil, nil}, nil, nil, []rule{*br}},
	} {
		del, add := plan(c.have, wanted(c.bridges))
		if !slices.Equal(del, c.del) || !slices.Equal(add, c.add) {
			t.Errorf("%s: plan = delete %v, add %v; want delete %v, add %v", c.name, del, add, c.del, c.add)
		}
	}
}
