package store

import (
	"strings"
	"testing"
)

// Names, IDs, options and aliases longer than the store keeps are
// refused with the limit in the error, from managers too.
func TestApplyBounds(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	withOpts := func(n, klen, vlen int) func(*Network) {
		return func(nw *Network) {
			nw.Options = map[string]string{}
			for i := range n {
				nw.Options[long(klen-3)+string(rune('a'+i/26/26%26))+string(rune('a'+i/26%26))+string(rune('a'+i%26))] = long(vlen)
			}
		}
	}
	aliases := func(n, size int) Command {
		c := mkAlloc("e1", "net1", "n2", "c1", "")
		for i := range n {
			c.Allocation.Aliases = append(c.Allocation.Aliases, long(size-1)+string(rune('a'+i%26)))
		}
		return c
	}
	base := with(nodes, mkNet("net1", "appnet", "198.19.1.0/24"))
	runApplyCases(t, []applyCase{
		{name: "network name at the limit", setup: nodes, cmd: mkNet("net1", long(MaxNameLen), "198.19.1.0/24")},
		{name: "network name over the limit", setup: nodes, cmd: mkNet("net1", long(MaxNameLen+1), "198.19.1.0/24"), err: "network name is 64 bytes long; at most 63 are allowed", kind: ErrInvalid},
		{name: "network ID over the limit", setup: nodes, cmd: mkNet(long(MaxIDLen+1), "appnet", "198.19.1.0/24"), err: "network ID is 65 bytes long; at most 64 are allowed", kind: ErrInvalid},
		{name: "options at the limit", setup: nodes, cmd: mkNet("net1", "appnet", "198.19.1.0/24", withOpts(MaxOptions, MaxOptionKeyLen, MaxOptionValueLen))},
		{name: "too many options", setup: nodes, cmd: mkNet("net1", "appnet", "198.19.1.0/24", withOpts(MaxOptions+1, 8, 1)), err: "65 options; at most 64 are allowed", kind: ErrInvalid},
		{name: "option key over the limit", setup: nodes, cmd: mkNet("net1", "appnet", "198.19.1.0/24", withOpts(1, MaxOptionKeyLen+1, 1)), err: "option key is 256 bytes long; at most 255 are allowed", kind: ErrInvalid},
		{name: "option value over the limit", setup: nodes, cmd: mkNet("net1", "appnet", "198.19.1.0/24", withOpts(1, 8, MaxOptionValueLen+1)), err: "option value is 1025 bytes long; at most 1024 are allowed", kind: ErrInvalid},
		{name: "endpoint name over the limit", setup: base, cmd: mkAlloc("e1", "net1", "n2", long(MaxDNSNameLen+1), ""), err: "name is 254 bytes long; at most 253 are allowed", kind: ErrInvalid},
		{name: "endpoint ID over the limit", setup: base, cmd: mkAlloc(long(MaxIDLen+1), "net1", "n2", "c1", ""), err: "endpoint ID is 65 bytes long; at most 64 are allowed", kind: ErrInvalid},
		{name: "aliases at the limit", setup: base, cmd: aliases(MaxAliases, MaxDNSNameLen)},
		{name: "too many aliases", setup: base, cmd: aliases(MaxAliases+1, 8), err: "33 aliases; at most 32 are allowed", kind: ErrInvalid},
		{name: "alias over the limit", setup: base, cmd: aliases(1, MaxDNSNameLen+1), err: "alias is 254 bytes long; at most 253 are allowed", kind: ErrInvalid},
	})
}
