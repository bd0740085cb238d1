package cluster

import (
	"testing"
	"time"

	"github.com/weftnet/weft/control/store"
)

func TestOrderKeys(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	grace := DefaultConfig().KeyGrace
	key := func(b byte, age time.Duration) store.Key { return store.Key{Key: []byte{b}, Created: now.Add(-age)} }
	cases := []struct {
		name string
		keys []store.Key // newest first, as the store keeps them
		want []byte      // first byte of each key, primary first
	}{
		{"none", nil, nil},
		{"one key is primary however new", []store.Key{key(1, 0)}, []byte{1}},
		{"a new key is installed but not primary during the grace", []store.Key{key(2, time.Second), key(1, time.Hour)}, []byte{1, 2}},
		{"after the grace the new key is primary", []store.Key{key(2, grace), key(1, time.Hour)}, []byte{2, 1}},
		{"three generations, the middle one settled", []store.Key{key(3, time.Second), key(2, time.Minute), key(1, time.Hour)}, []byte{2, 3, 1}},
		{"all too new: the oldest encrypts", []store.Key{key(3, time.Second), key(2, 2*time.Second)}, []byte{2, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := orderKeys(c.keys, now, grace)
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
