package store

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/weftnet/weft/control/pki"
)

// populated is a command log touching every part of State.
func populated() []Command {
	return with(nodes,
		mkNet("net1", "appnet", "198.19.1.0/24", withRange("198.19.1.128/25"), func(n *Network) {
			n.Encrypted, n.MTU, n.Options = true, 1450, map[string]string{"com.example": "x"}
			n.Keys = []Key{{Key: dataKey(1), Created: t0}}
		}),
		Command{Op: OpAddNetworkKey, NetworkID: "net1", Key: &Key{Key: dataKey(2), Created: t0}},
		mkNet("net2", "v6", "fd00:1::/64"),
		mkNet("net3", "pooled", ""),
		Command{Op: OpAllocate, Allocation: &Allocation{EndpointID: "e1", NetworkID: "net1", Node: "n2", Name: "web.1", Aliases: []string{"web"}}},
		mkAlloc("e2", "net2", "n3", "db", ""),
		mkAlloc("e3", "net3", "n1", "", "10.0.0.9"),
		Command{Op: OpRotateSecret, Role: pki.RoleWorker, Secret: "SWMTKN-w"},
		Command{Op: OpRotateSecret, Role: pki.RoleManager, Secret: "SWMTKN-m"},
		gossipKey(1, 32), gossipKey(2, 32),
		Command{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("10.128.0.0/9"), PoolSize: 25},
	)
}

func encode(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("encode %s: %v", c.Op, err)
	}
	return b
}

// TestFSMMatchesState checks that commands survive the JSON trip through
// the raft log: FSM.Apply on the encoded log gives the same state and values
// as State.Apply on the commands.
func TestFSMMatchesState(t *testing.T) {
	direct, f := NewState(), NewFSM()
	for i, c := range populated() {
		want, wantErr := direct.Apply(c)
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: encode(t, c)}).(Result)
		if wantErr != nil || res.Err != nil {
			t.Fatalf("%s: direct error %v, FSM error %v", c.Op, wantErr, res.Err)
		}
		if !reflect.DeepEqual(res.Value, want) {
			t.Errorf("%s: FSM value %+v; want %+v", c.Op, res.Value, want)
		}
	}
	f.Read(func(s *State) {
		if !reflect.DeepEqual(s, direct) {
			t.Errorf("FSM state:\ngot  %+v\nwant %+v", s, direct)
		}
	})
}

func TestFSMApplyBadEntry(t *testing.T) {
	f := NewFSM()
	res := f.Apply(&raft.Log{Index: 7, Data: []byte("{not json")}).(Result)
	checkErr(t, res.Err, "decode command at raft index 7", nil)
	res = f.Apply(&raft.Log{Index: 8, Data: []byte(`{"op":"Nope"}`)}).(Result)
	checkErr(t, res.Err, `unknown command op "Nope"`, ErrInvalid)
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Close() error  { m.closed = true; return nil }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }

func TestSnapshotRestore(t *testing.T) {
	src := NewFSM()
	for i, c := range populated() {
		if res := src.Apply(&raft.Log{Index: uint64(i + 1), Data: encode(t, c)}).(Result); res.Err != nil {
			t.Fatalf("%s: %v", c.Op, res.Err)
		}
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("persist: got error %v, closed %v; want nil, true", err, sink.closed)
	}
	snap.Release()

	dst := NewFSM()
	mustApply(t, dst.state, addNode("stale", pki.RoleManager, "")) // must be replaced, not merged
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	src.Read(func(want *State) {
		dst.Read(func(got *State) {
			if !reflect.DeepEqual(got, want) {
				t.Errorf("restored state:\ngot  %+v\nwant %+v", got, want)
			}
		})
	})
	// The restored state keeps working: the next VNI and pool block follow.
	var res any
	dst.Read(func(s *State) { res, err = s.Clone().Apply(mkNet("net4", "after", "")) })
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "VNI after restore", res.(Network).VNI, 4099)
	wantEqual(t, "subnet after restore", res.(Network).Subnet, netip.MustParsePrefix("10.128.0.0/25"))
}

func TestRestoreEmptyAndBad(t *testing.T) {
	f := NewFSM()
	if err := f.Restore(io.NopCloser(bytes.NewReader([]byte(`{}`)))); err != nil {
		t.Fatal(err)
	}
	f.Read(func(s *State) {
		if s.Nodes == nil || s.Networks == nil || s.Allocations == nil {
			t.Errorf("restored empty state has nil maps: %+v", s)
		}
	})
	checkErr(t, f.Restore(io.NopCloser(bytes.NewReader([]byte(`[`)))), "restore state", nil)
}

// FuzzFSMApply feeds arbitrary log entries to the FSM: it must never panic,
// and an entry that fails must leave the state as it was.
func FuzzFSMApply(f *testing.F) {
	for _, c := range populated() {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"op":"Allocate","allocation":{"endpoint_id":"x","network_id":"net1","node":"n1","ip":"198.19.1.300"}}`))
	f.Add([]byte(`{"op":"CreateNetwork","network":{"id":"z","name":"z","subnet":"0.0.0.0/0"}}`))
	f.Add([]byte(`{"op":"Allocate","worker":"n2"}`))
	f.Add([]byte(`{"op":"Release","endpoint_id":"e2","worker":"n2"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := NewFSM()
		for i, c := range populated() {
			b, _ := json.Marshal(c)
			fsm.Apply(&raft.Log{Index: uint64(i + 1), Data: b})
		}
		before := fsm.state.Clone()
		if res := fsm.Apply(&raft.Log{Index: 99, Data: data}).(Result); res.Err != nil && !reflect.DeepEqual(fsm.state, before) {
			t.Fatalf("failed entry %q changed the state: %v", data, res.Err)
		}
	})
}
