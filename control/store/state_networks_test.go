package store

import (
	"net/netip"
	"testing"
)

func withGateway(gw string) func(*Network) {
	return func(n *Network) { n.Gateway = netip.MustParseAddr(gw) }
}

func withRange(r string) func(*Network) {
	return func(n *Network) { n.IPRange = netip.MustParsePrefix(r) }
}

func withVNI(v uint32) func(*Network) { return func(n *Network) { n.VNI = v } }

// wantNet checks the network returned by CreateNetwork and the one stored.
func wantNet(vni uint32, subnet, gateway string) func(*testing.T, any, *State) {
	return func(t *testing.T, got any, s *State) {
		t.Helper()
		n := got.(Network)
		wantEqual(t, "VNI", n.VNI, vni)
		wantEqual(t, "subnet", n.Subnet, netip.MustParsePrefix(subnet))
		wantEqual(t, "gateway", n.Gateway, netip.MustParseAddr(gateway))
		stored := s.Networks[n.ID]
		if stored == nil {
			t.Fatalf("network %s not stored", n.ID)
		}
		wantEqual(t, "stored VNI", stored.VNI, vni)
		wantEqual(t, "stored subnet", stored.Subnet, n.Subnet)
	}
}

func TestApplyCreateNetwork(t *testing.T) {
	appnet := mkNet("net1", "appnet", "198.19.1.0/24")
	runApplyCases(t, []applyCase{
		{name: "given subnet", cmd: appnet, check: wantNet(4096, "198.19.1.0/24", "198.19.1.1")},
		{
			name: "flags options and MTU passed through",
			cmd: mkNet("net1", "appnet", "198.19.1.0/24", func(n *Network) {
				n.Attachable, n.Internal, n.Encrypted, n.MTU = true, true, true, 1400
				n.Options = map[string]string{"k": "v"}
				n.Keys = []Key{{Key: dataKey(1), Created: t0}}
			}),
			check: func(t *testing.T, _ any, s *State) {
				n := s.Networks["net1"]
				wantEqual(t, "flags", n.Attachable && n.Internal && n.Encrypted, true)
				wantEqual(t, "MTU", n.MTU, 1400)
				wantEqual(t, "option k", n.Options["k"], "v")
				wantEqual(t, "created", n.Created, t0)
				wantEqual(t, "first key generation", n.Keys[0].Generation, uint64(1))
			},
		},
		{name: "encrypted without a key", cmd: mkNet("net1", "appnet", "", func(n *Network) { n.Encrypted = true }), err: "needs exactly one first key, got 0", kind: ErrInvalid},
		{name: "key for a plaintext network", cmd: mkNet("net1", "appnet", "", func(n *Network) { n.Keys = []Key{{Key: dataKey(1)}} }), err: "keys given for a network that is not encrypted", kind: ErrInvalid},
		{name: "short first key", cmd: mkNet("net1", "appnet", "", func(n *Network) { n.Encrypted, n.Keys = true, []Key{{Key: []byte("short")}} }), err: "want a key of 32 bytes", kind: ErrInvalid},
		{name: "no network", cmd: Command{Op: OpCreateNetwork}, err: "command has no network", kind: ErrInvalid},
		{name: "empty name", cmd: mkNet("net1", "", ""), err: "empty name", kind: ErrInvalid},
		{name: "empty ID", cmd: mkNet("", "appnet", ""), err: "create network appnet: empty network ID", kind: ErrInvalid},
		{name: "name taken", setup: []Command{appnet}, cmd: mkNet("net2", "appnet", "198.19.2.0/24"), err: "network appnet already exists", kind: ErrConflict},
		{name: "ID taken", setup: []Command{appnet}, cmd: mkNet("net1", "other", "198.19.2.0/24"), err: "network ID net1 already used by network appnet", kind: ErrConflict},
		{name: "negative MTU", cmd: mkNet("net1", "appnet", "", func(n *Network) { n.MTU = -1 }), err: "MTU -1 is outside 0..65535", kind: ErrInvalid},
		{
			name: "subnet inside another", setup: []Command{appnet}, cmd: mkNet("net2", "web", "198.19.1.128/25"),
			err: "create network web: subnet 198.19.1.128/25 overlaps network appnet's subnet 198.19.1.0/24", kind: ErrConflict,
		},
		{
			name: "subnet around another", setup: []Command{appnet}, cmd: mkNet("net2", "web", "198.19.0.0/16"),
			err: "subnet 198.19.0.0/16 overlaps network appnet's subnet 198.19.1.0/24", kind: ErrConflict,
		},
		{name: "adjacent subnet", setup: []Command{appnet}, cmd: mkNet("net2", "web", "198.19.2.0/24"), check: wantNet(4097, "198.19.2.0/24", "198.19.2.1")},
		{name: "unmasked subnet", cmd: mkNet("net1", "appnet", "198.19.1.5/24"), err: "subnet 198.19.1.5/24 has host bits set; did you mean 198.19.1.0/24?", kind: ErrInvalid},
		{name: "mapped subnet", cmd: mkNet("net1", "appnet", "::ffff:198.19.1.0/120"), err: "IPv4-mapped", kind: ErrInvalid},
		{name: "IPv6 subnet", cmd: mkNet("net1", "v6net", "fd00:1::/64"), check: wantNet(4096, "fd00:1::/64", "fd00:1::1")},

		{name: "pool first block", cmd: mkNet("net1", "appnet", ""), check: wantNet(4096, "10.0.0.0/24", "10.0.0.1")},
		{
			name:  "pool skips taken blocks",
			setup: []Command{mkNet("a", "a", ""), mkNet("b", "b", "10.0.1.0/24"), mkNet("c", "c", "10.0.2.128/25")},
			cmd:   mkNet("d", "d", ""), check: wantNet(4099, "10.0.3.0/24", "10.0.3.1"),
		},
		{
			name:  "pool fills a hole",
			setup: []Command{mkNet("a", "a", ""), mkNet("b", "b", ""), mkNet("c", "c", ""), {Op: OpRemoveNetwork, NetworkID: "b"}},
			cmd:   mkNet("d", "d", ""), check: wantNet(4097, "10.0.1.0/24", "10.0.1.1"),
		},
		{
			name:  "pool skips a larger user subnet",
			setup: []Command{mkNet("a", "a", "10.0.0.0/16"), mkNet("b", "b", "10.1.0.0/23")},
			cmd:   mkNet("c", "c", ""), check: wantNet(4098, "10.1.2.0/24", "10.1.2.1"),
		},
		{
			name:  "pool resized",
			setup: []Command{{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.0/16"), PoolSize: 26}, mkNet("a", "a", "")},
			cmd:   mkNet("b", "b", ""), check: wantNet(4097, "198.19.0.64/26", "198.19.0.65"),
		},
		{
			name:  "pool exhausted",
			setup: []Command{{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.0/23"), PoolSize: 24}, mkNet("a", "a", ""), mkNet("b", "b", "")},
			cmd:   mkNet("c", "c", ""), err: "create network c: default address pool 198.19.0.0/23 has no free /24 left", kind: ErrExhausted,
		},
		{
			name:  "pool at the top of the address space",
			setup: []Command{{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("255.255.255.0/24"), PoolSize: 25}, mkNet("a", "a", ""), mkNet("b", "b", "")},
			cmd:   mkNet("c", "c", ""), err: "has no free /25 left", kind: ErrExhausted,
		},

		{
			name:  "VNI reuses lowest free",
			setup: []Command{mkNet("a", "a", ""), mkNet("b", "b", ""), mkNet("c", "c", ""), mkNet("d", "d", ""), {Op: OpRemoveNetwork, NetworkID: "c"}, {Op: OpRemoveNetwork, NetworkID: "b"}},
			cmd:   mkNet("e", "e", ""), check: wantNet(4097, "10.0.1.0/24", "10.0.1.1"),
		},
		{name: "VNI given", cmd: mkNet("a", "a", "", withVNI(100)), check: wantNet(100, "10.0.0.0/24", "10.0.0.1")},
		{name: "VNI given taken", setup: []Command{mkNet("a", "a", "")}, cmd: mkNet("b", "b", "", withVNI(4096)), err: "create network b: VNI 4096 already used by network a", kind: ErrConflict},
		{name: "VNI too large", cmd: mkNet("a", "a", "", withVNI(1<<24)), err: "VNI 16777216 is above 16777215", kind: ErrInvalid},
		{
			name:  "auto VNI skips a given one",
			setup: []Command{mkNet("a", "a", "", withVNI(4096))},
			cmd:   mkNet("b", "b", ""), check: wantNet(4097, "10.0.1.0/24", "10.0.1.1"),
		},

		{name: "gateway given", cmd: mkNet("a", "a", "198.19.1.0/24", withGateway("198.19.1.254")), check: wantNet(4096, "198.19.1.0/24", "198.19.1.254")},
		{name: "gateway outside", cmd: mkNet("a", "a", "198.19.1.0/24", withGateway("198.19.2.1")), err: "gateway 198.19.2.1 is outside subnet 198.19.1.0/24", kind: ErrInvalid},
		{name: "gateway wrong family", cmd: mkNet("a", "a", "198.19.1.0/24", withGateway("fd00::1")), err: "gateway fd00::1 is outside subnet", kind: ErrInvalid},
		{name: "gateway network address", cmd: mkNet("a", "a", "198.19.1.0/24", withGateway("198.19.1.0")), err: "gateway 198.19.1.0 is subnet 198.19.1.0/24's network or broadcast address", kind: ErrInvalid},
		{name: "gateway broadcast", cmd: mkNet("a", "a", "198.19.1.0/24", withGateway("198.19.1.255")), err: "network or broadcast address", kind: ErrInvalid},
		{name: "gateway /31 default", cmd: mkNet("a", "a", "198.19.1.0/31"), check: wantNet(4096, "198.19.1.0/31", "198.19.1.0")},
		{name: "gateway /32 default", cmd: mkNet("a", "a", "198.19.1.7/32"), check: wantNet(4096, "198.19.1.7/32", "198.19.1.7")},
		{name: "gateway IPv6 last address allowed", cmd: mkNet("a", "a", "fd00::/120", withGateway("fd00::ff")), check: wantNet(4096, "fd00::/120", "fd00::ff")},

		{
			name: "IP range", cmd: mkNet("a", "a", "198.19.1.0/24", withRange("198.19.1.128/25")),
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "IPRange", s.Networks["a"].IPRange, netip.MustParsePrefix("198.19.1.128/25"))
			},
		},
		{name: "IP range outside", cmd: mkNet("a", "a", "198.19.1.0/24", withRange("198.19.2.0/25")), err: "IP range 198.19.2.0/25 is not inside subnet 198.19.1.0/24", kind: ErrInvalid},
		{name: "IP range larger", cmd: mkNet("a", "a", "198.19.1.0/24", withRange("198.19.0.0/16")), err: "is not inside subnet", kind: ErrInvalid},
		{name: "IP range unmasked", cmd: mkNet("a", "a", "198.19.1.0/24", withRange("198.19.1.129/25")), err: "IP range 198.19.1.129/25 has host bits set", kind: ErrInvalid},
	})
}

func TestApplyRemoveNetwork(t *testing.T) {
	used := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"),
		mkAlloc("e1", "net1", "n1", "c1", ""), mkAlloc("e2", "net1", "n2", "", "198.19.1.9"))
	many := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"))
	for i := range 12 {
		many = append(many, mkAlloc("e"+string(rune('a'+i)), "net1", "n2", "", ""))
	}
	runApplyCases(t, []applyCase{
		{
			name: "remove", setup: []Command{mkNet("net1", "appnet", "")}, cmd: Command{Op: OpRemoveNetwork, NetworkID: "net1"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "networks left", len(s.Networks), 0) },
		},
		{name: "unknown", cmd: Command{Op: OpRemoveNetwork, NetworkID: "net9"}, err: "remove network net9: no such network", kind: ErrNotFound},
		{
			name: "refused with endpoints", setup: used, cmd: Command{Op: OpRemoveNetwork, NetworkID: "net1"},
			err: "remove network appnet: network appnet has active endpoints: c1 (198.19.1.2) on node n1, e2 (198.19.1.9) on node n2", kind: ErrConflict,
		},
		{
			name: "refusal lists at most ten", setup: many, cmd: Command{Op: OpRemoveNetwork, NetworkID: "net1"},
			err: "ej (198.19.1.11) on node n2, and 2 more", kind: ErrConflict,
		},
		{
			name: "allowed after release", setup: with(used, Command{Op: OpRelease, EndpointID: "e1"}, Command{Op: OpReleaseNode, NodeID: "n2"}),
			cmd:   Command{Op: OpRemoveNetwork, NetworkID: "net1"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "networks left", len(s.Networks), 0) },
		},
	})
}
