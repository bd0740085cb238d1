package store

import (
	"bytes"
	"reflect"
	"testing"
)

// dataKey returns a network data key filled with b.
func dataKey(b byte) []byte { return bytes.Repeat([]byte{b}, NetworkKeyLen) }

func addNetKey(network string, b byte) Command {
	return Command{Op: OpAddNetworkKey, NetworkID: network, Key: &Key{Key: dataKey(b), Created: t0}}
}

func TestApplyNetworkKeys(t *testing.T) {
	secret := mkNet("net1", "secret", "198.19.1.0/24", func(n *Network) {
		n.Encrypted, n.Keys = true, []Key{{Key: dataKey(1), Created: t0}}
	})
	runApplyCases(t, []applyCase{
		{
			name:  "keeps newest three, newest first",
			setup: []Command{secret, addNetKey("net1", 2), addNetKey("net1", 3)},
			cmd:   addNetKey("net1", 4),
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "returned generation", got.(Key).Generation, 4)
				var gens []uint64
				for _, k := range s.Networks["net1"].Keys {
					gens = append(gens, k.Generation)
				}
				if !reflect.DeepEqual(gens, []uint64{4, 3, 2}) {
					t.Errorf("generations: got %v; want [4 3 2]", gens)
				}
			},
		},
		{name: "plaintext network", setup: []Command{mkNet("net1", "open", "198.19.1.0/24")}, cmd: addNetKey("net1", 2), err: "network open is not encrypted", kind: ErrInvalid},
		{name: "unknown network", cmd: addNetKey("net9", 2), err: `no such network "net9"`, kind: ErrNotFound},
		{name: "duplicate", setup: []Command{secret}, cmd: addNetKey("net1", 1), err: "already installed as generation 1", kind: ErrConflict},
		{name: "short", setup: []Command{secret}, cmd: Command{Op: OpAddNetworkKey, NetworkID: "net1", Key: &Key{Key: []byte("short")}}, err: "want a key of 32 bytes", kind: ErrInvalid},
		{name: "no key", setup: []Command{secret}, cmd: Command{Op: OpAddNetworkKey, NetworkID: "net1"}, err: "want a key of 32 bytes", kind: ErrInvalid},
	})
}
