package cluster

import (
	"testing"

	"github.com/weftnet/weft/control/store"
)

func TestOrderKeys(t *testing.T) {
	key := func(gen uint64) store.Key { return store.Key{Generation: gen, Key: []byte{byte(gen)}} }
	cases := []struct {
		name    string
		keys    []store.Key // newest first, as the store keeps them
		primary uint64
		want    []byte // first byte of each key, primary first
	}{
		{"none", nil, 0, nil},
		{"one key", []store.Key{key(1)}, 1, []byte{1}},
		{"a new key is installed but not primary", []store.Key{key(2), key(1)}, 1, []byte{1, 2}},
		{"promoted, the new key is primary", []store.Key{key(2), key(1)}, 2, []byte{2, 1}},
		{"three generations, the middle one primary", []store.Key{key(3), key(2), key(1)}, 2, []byte{2, 3, 1}},
		{"no primary (an old state): the oldest encrypts", []store.Key{key(3), key(2)}, 0, []byte{2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := orderKeys(c.keys, c.primary)
			if len(got) != len(c.want) {
				t.Fatalf("got %d keys; want %d", len(got), len(c.want))
			}
			for i := range got {
				if got[i][0] != c.want[i] {
					t.Fatalf("got order %v; want %v", firstBytes(got), c.want)
				}
			}
		})
	}
}

func firstBytes(keys [][]byte) []byte {
	out := make([]byte, len(keys))
	for i, k := range keys {
		out[i] = k[0]
	}
	return out
}
