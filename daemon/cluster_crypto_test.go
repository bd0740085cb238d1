package daemon

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/store"
)

func keysOf(gens ...uint64) []store.Key {
	var ks []store.Key
	for _, g := range gens {
		ks = append(ks, store.Key{Generation: g, Key: bytes.Repeat([]byte{byte(g)}, store.NetworkKeyLen)})
	}
	return ks
}

func TestNewerKeys(t *testing.T) {
	tests := []struct {
		name          string
		held, fetched []store.Key
		want          bool
	}{
		{"first keys", nil, keysOf(1), true},
		{"nothing fetched", keysOf(1), nil, false},
		{"same", keysOf(3, 2, 1), keysOf(3, 2, 1), false},
		{"a rotation", keysOf(3, 2, 1), keysOf(4, 3, 2), true},
		{"a lagging manager", keysOf(4, 3, 2), keysOf(3, 2, 1), false},
	}
	for _, tt := range tests {
		if got := newerKeys(tt.held, tt.fetched); got != tt.want {
			t.Errorf("%s: newerKeys = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestSendKey(t *testing.T) {
	keys := keysOf(5, 4, 3)
	for _, tt := range []struct {
		peer uint64
		want uint64 // 0: none
	}{{6, 5}, {5, 5}, {4, 4}, {3, 3}, {2, 0}, {0, 0}} {
		k, ok := sendKey(keys, tt.peer)
		if got := map[bool]uint64{true: k.Generation}[ok]; got != tt.want {
			t.Errorf("sendKey(peer opens %d) = generation %d; want %d", tt.peer, got, tt.want)
		}
	}
}

func TestPeerRuns(t *testing.T) {
	vtep := netip.MustParseAddrPort("198.18.0.2:4789")
	recs := []gossip.Record{
		{Node: "self", Boot: 1, KeyGen: 9, Version: 1},
		{Node: "b", Boot: 7, KeyGen: 3, Version: 10, VTEP: vtep},
		{Node: "b", Boot: 7, KeyGen: 2, Version: 11, VTEP: vtep}, // in flight: the lower counts
		{Node: "b", Boot: 6, KeyGen: 9, Version: 5, VTEP: vtep},  // an earlier run
	}
	runs := peerRuns("self", recs)
	if len(runs) != 1 {
		t.Fatalf("peerRuns = %+v; want one run of b", runs)
	}
	if r := runs[0]; r.node != "b" || r.boot != 7 || r.keyGen != 2 || r.vtep != vtep {
		t.Errorf("peerRuns = %+v; want b, boot 7, KeyGen 2", r)
	}
}

// TestSAsOutliveTheirPeer: an SA is the same object for as long as its
// generation is live, whether its peer went away or not, and a retired
// generation is never derived again.
func TestSAsOutliveTheirPeer(t *testing.T) {
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), sas: map[string]map[saKey]*saEntry{}, saFloor: map[string]uint64{}}
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	k1 := saKey{out: true, from: "a/1", to: "b/2", gen: 1}
	keys := keysOf(2, 1)
	first := d.sa(d.saCache("net", keys), k1, keys[1].Key, "net", src, dst)
	if first == nil || first.outbound == nil {
		t.Fatal("no Outbound made")
	}
	buf := make([]byte, 200)
	if _, err := first.outbound.Seal(buf, 60); err != nil {
		t.Fatal(err)
	}
	// The peer is gone for a while: nothing asks for its SA.
	d.saCache("net", keys)
	again := d.sa(d.saCache("net", keys), k1, keys[1].Key, "net", src, dst)
	if again != first || again.outbound.Seq() != 1 {
		t.Fatalf("the SA came back as %p with sequence %d; want %p, 1", again, again.outbound.Seq(), first)
	}
	// Generation 1 retires: its SA goes, and is never made again.
	if e := d.sa(d.saCache("net", keysOf(4, 3, 2)), k1, keys[1].Key, "net", src, dst); e != nil {
		t.Errorf("an SA of retired generation 1 was made again")
	}
}
