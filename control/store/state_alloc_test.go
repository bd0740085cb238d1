package store

import (
	"net/netip"
	"reflect"
	"testing"
)

// wantAlloc checks the allocation returned by Allocate and the one stored.
func wantAlloc(ip, mac string) func(*testing.T, any, *State) {
	return func(t *testing.T, got any, s *State) {
		t.Helper()
		a := got.(Allocation)
		wantEqual(t, "IP", a.IP, netip.MustParseAddr(ip))
		if mac != "" {
			wantEqual(t, "MAC", a.MAC, mac)
		}
		stored := s.Allocations[a.EndpointID]
		if stored == nil || !reflect.DeepEqual(*stored, a) {
			t.Fatalf("stored allocation: got %+v; want %+v", stored, a)
		}
	}
}

func TestApplyAllocate(t *testing.T) {
	base := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"))
	c1 := mkAlloc("e1", "net1", "n1", "c1", "")
	runApplyCases(t, []applyCase{
		{name: "lowest after gateway", setup: base, cmd: c1, check: wantAlloc("198.19.1.2", "02:42:c6:13:01:02")},
		{name: "next lowest", setup: with(base, c1), cmd: mkAlloc("e2", "net1", "n2", "c2", ""), check: wantAlloc("198.19.1.3", "")},
		{
			name:  "skips gateway in the middle",
			setup: with(nodes, mkNet("net1", "appnet", "198.19.1.0/29", withGateway("198.19.1.2")), c1),
			cmd:   mkAlloc("e2", "net1", "n1", "c2", ""), check: wantAlloc("198.19.1.3", ""),
		},
		{
			name:  "reuses a released address first",
			setup: with(base, c1, mkAlloc("e2", "net1", "n1", "c2", ""), mkAlloc("e3", "net1", "n1", "c3", ""), Command{Op: OpRelease, EndpointID: "e2"}),
			cmd:   mkAlloc("e4", "net1", "n2", "c4", ""), check: wantAlloc("198.19.1.3", ""),
		},
		{name: "given", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.77"), check: wantAlloc("198.19.1.77", "02:42:c6:13:01:4d")},
		{
			name: "given in use", setup: with(base, mkAlloc("e1", "net1", "n2", "c1", "198.19.1.5")), cmd: mkAlloc("e2", "net1", "n1", "c2", "198.19.1.5"),
			err: "allocate c2 on network appnet: address 198.19.1.5 already in use by c1 on node n2", kind: ErrConflict,
		},
		{
			name: "given in use by unnamed endpoint", setup: with(base, mkAlloc("e1", "net1", "n2", "", "198.19.1.5")), cmd: mkAlloc("e2", "net1", "n1", "", "198.19.1.5"),
			err: "allocate e2 on network appnet: address 198.19.1.5 already in use by e1 on node n2", kind: ErrConflict,
		},
		{name: "given outside subnet", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.2.5"), err: "address 198.19.2.5 is outside network appnet's subnet 198.19.1.0/24", kind: ErrInvalid},
		{name: "given network address", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.0"), err: "address 198.19.1.0 is the network or broadcast address of subnet 198.19.1.0/24", kind: ErrInvalid},
		{name: "given broadcast", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.255"), err: "address 198.19.1.255 is the network or broadcast address", kind: ErrInvalid},
		{name: "given gateway", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.1"), err: "address 198.19.1.1 is network appnet's gateway", kind: ErrConflict},
		{name: "given wrong family", setup: base, cmd: mkAlloc("e1", "net1", "n1", "c1", "fd00::5"), err: "address fd00::5 is outside network appnet's subnet", kind: ErrInvalid},

		{
			name:  "IP range lowest",
			setup: with(nodes, mkNet("net1", "appnet", "198.19.1.0/24", withRange("198.19.1.128/25"))),
			cmd:   c1, check: wantAlloc("198.19.1.128", ""),
		},
		{
			name:  "IP range given outside",
			setup: with(nodes, mkNet("net1", "appnet", "198.19.1.0/24", withRange("198.19.1.128/25"))),
			cmd:   mkAlloc("e1", "net1", "n1", "c1", "198.19.1.20"), err: "address 198.19.1.20 is outside network appnet's IP range 198.19.1.128/25", kind: ErrInvalid,
		},
		{
			name:  "IP range excludes subnet broadcast",
			setup: with(nodes, mkNet("net1", "appnet", "198.19.1.0/24", withRange("198.19.1.254/31")), c1),
			cmd:   mkAlloc("e2", "net1", "n1", "c2", ""), err: "no free address left in 198.19.1.254/31", kind: ErrExhausted,
		},
		{
			name:  "/31 uses both addresses",
			setup: with(nodes, mkNet("net1", "p2p", "198.19.1.0/31")),
			cmd:   c1, check: wantAlloc("198.19.1.1", ""),
		},
		{
			name:  "/31 given first address when gateway moved",
			setup: with(nodes, mkNet("net1", "p2p", "198.19.1.0/31", withGateway("198.19.1.1"))),
			cmd:   mkAlloc("e1", "net1", "n1", "c1", "198.19.1.0"), check: wantAlloc("198.19.1.0", ""),
		},
		{
			name:  "/31 exhausted",
			setup: with(nodes, mkNet("net1", "p2p", "198.19.1.0/31"), c1),
			cmd:   mkAlloc("e2", "net1", "n1", "c2", ""), err: "allocate c2 on network p2p: no free address left in 198.19.1.0/31", kind: ErrExhausted,
		},
		{
			name:  "/30 exhausted",
			setup: with(nodes, mkNet("net1", "small", "198.19.1.0/30"), c1),
			cmd:   mkAlloc("e2", "net1", "n1", "c2", ""), err: "no free address left in 198.19.1.0/30", kind: ErrExhausted,
		},
		{
			name:  "IPv6",
			setup: with(nodes, mkNet("net1", "v6", "fd00:1::/64")),
			cmd:   c1, check: wantAlloc("fd00:1::2", "02:42:00:00:00:02"),
		},

		{name: "idempotent", setup: with(base, c1), cmd: c1, check: wantAlloc("198.19.1.2", "")},
		{name: "idempotent with the IP it got", setup: with(base, c1), cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.2"), check: wantAlloc("198.19.1.2", "")},
		{
			name: "same endpoint elsewhere", setup: with(base, mkNet("net2", "other", "198.19.2.0/24"), c1), cmd: mkAlloc("e1", "net2", "n1", "c1", ""),
			err: "allocate c1: endpoint e1 already has 198.19.1.2 on network appnet on node n1", kind: ErrConflict,
		},
		{name: "same endpoint other IP", setup: with(base, c1), cmd: mkAlloc("e1", "net1", "n1", "c1", "198.19.1.9"), err: "endpoint e1 already has 198.19.1.2", kind: ErrConflict},

		{
			name: "name taken on another node", setup: with(base, c1), cmd: mkAlloc("e2", "net1", "n2", "c1", ""),
			err: "allocate c1 on network appnet: name c1 is already used on network appnet by node n1", kind: ErrConflict,
		},
		{
			name: "name taken in another case", setup: with(base, c1), cmd: mkAlloc("e2", "net1", "n2", "C1", ""),
			err: "allocate C1 on network appnet: name C1 is already used on network appnet by node n1", kind: ErrConflict,
		},
		{name: "same name on another network", setup: with(base, mkNet("net2", "other", "198.19.2.0/24"), c1), cmd: mkAlloc("e2", "net2", "n2", "c1", ""), check: wantAlloc("198.19.2.2", "")},
		{name: "unnamed endpoints", setup: with(base, mkAlloc("e1", "net1", "n1", "", "")), cmd: mkAlloc("e2", "net1", "n1", "", ""), check: wantAlloc("198.19.1.3", "")},

		{name: "unknown network", setup: base, cmd: mkAlloc("e1", "net9", "n1", "c1", ""), err: `allocate c1: no such network "net9"`, kind: ErrNotFound},
		{name: "unknown node", setup: base, cmd: mkAlloc("e1", "net1", "n9", "c1", ""), err: `allocate c1 on network appnet: no such node "n9"`, kind: ErrNotFound},
		{name: "empty endpoint ID", setup: base, cmd: mkAlloc("", "net1", "n1", "c1", ""), err: "allocate c1: empty endpoint ID", kind: ErrInvalid},
		{name: "no allocation", setup: base, cmd: Command{Op: OpAllocate}, err: "command has no allocation", kind: ErrInvalid},

		{
			name: "MAC given is canonicalized", setup: base,
			cmd: Command{Op: OpAllocate, Allocation: &Allocation{EndpointID: "e1", NetworkID: "net1", Node: "n1", MAC: "02-AA-BB-CC-DD-EE", Aliases: []string{"web"}}},
			check: func(t *testing.T, got any, s *State) {
				wantAlloc("198.19.1.2", "02:aa:bb:cc:dd:ee")(t, got, s)
				if !reflect.DeepEqual(s.Allocations["e1"].Aliases, []string{"web"}) {
					t.Errorf("aliases: got %v; want [web]", s.Allocations["e1"].Aliases)
				}
			},
		},
		{
			name: "MAC invalid", setup: base,
			cmd: Command{Op: OpAllocate, Allocation: &Allocation{EndpointID: "e1", NetworkID: "net1", Node: "n1", MAC: "nope"}},
			err: `allocate e1 on network appnet: MAC "nope" is not a 48-bit MAC address`, kind: ErrInvalid,
		},
		{
			name: "MAC in use", setup: with(base, c1),
			cmd: Command{Op: OpAllocate, Allocation: &Allocation{EndpointID: "e2", NetworkID: "net1", Node: "n2", MAC: "02:42:c6:13:01:02"}},
			err: "MAC 02:42:c6:13:01:02 already in use by c1 on node n1", kind: ErrConflict,
		},
	})
}

func TestApplyRelease(t *testing.T) {
	base := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"), mkAlloc("e1", "net1", "n1", "c1", ""))
	runApplyCases(t, []applyCase{
		{
			name: "release", setup: base, cmd: Command{Op: OpRelease, EndpointID: "e1"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "allocations", len(s.Allocations), 0) },
		},
		{
			name: "release twice", setup: with(base, Command{Op: OpRelease, EndpointID: "e1"}), cmd: Command{Op: OpRelease, EndpointID: "e1"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "allocations", len(s.Allocations), 0) },
		},
		{
			name: "release unknown", setup: base, cmd: Command{Op: OpRelease, EndpointID: "e9"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "allocations", len(s.Allocations), 1) },
		},
	})
}

// TestApplyReturnsCopies checks that values Apply returns share nothing
// with the state, so callers of Store.Apply cannot race with later commands.
func TestApplyReturnsCopies(t *testing.T) {
	s := NewState()
	mustApply(t, s, nodes...)
	got, err := s.Apply(mkNet("net1", "appnet", "198.19.1.0/24", func(n *Network) { n.Options = map[string]string{"k": "v"} }))
	if err != nil {
		t.Fatal(err)
	}
	got.(Network).Options["k"] = "changed"
	wantEqual(t, "stored option", s.Networks["net1"].Options["k"], "v")

	res, err := s.Apply(Command{Op: OpAllocate, Allocation: &Allocation{EndpointID: "e1", NetworkID: "net1", Node: "n1", Aliases: []string{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	res.(Allocation).Aliases[0] = "changed"
	wantEqual(t, "stored alias", s.Allocations["e1"].Aliases[0], "a")
}
