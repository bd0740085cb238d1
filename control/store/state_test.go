package store

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/pki"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// applyCase applies setup to a fresh state, then cmd, and checks the result.
type applyCase struct {
	name  string
	setup []Command
	cmd   Command
	// err is a substring the error must contain; empty means success.
	err string
	// kind is the sentinel the error must wrap, when err is set.
	kind  error
	check func(t *testing.T, got any, s *State)
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState()
			mustApply(t, s, tc.setup...)
			before := s.Clone()
			got, err := s.Apply(tc.cmd)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Apply(%s): got error %v; want none", tc.cmd.Op, err)
				}
			} else {
				checkErr(t, err, tc.err, tc.kind)
				if !reflect.DeepEqual(s, before) {
					t.Fatalf("failed %s changed the state:\ngot  %+v\nwant %+v", tc.cmd.Op, s, before)
				}
			}
			if tc.check != nil {
				tc.check(t, got, s)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %q; want it to contain %q", err, want)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Fatalf("got error %q; want it to wrap %v", err, kind)
	}
}

func mustApply(t *testing.T, s *State, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if _, err := s.Apply(c); err != nil {
			t.Fatalf("setup %s: %v", c.Op, err)
		}
	}
}

func addNode(id string, role pki.Role, data string) Command {
	n := &Node{ID: id, Hostname: "host-" + id, Role: role, Joined: t0}
	if data != "" {
		n.DataAddr = netip.MustParseAddrPort(data)
	}
	return Command{Op: OpAddNode, Node: n}
}

// nodes is the usual setup: manager n1, workers n2 and n3.
var nodes = []Command{
	addNode("n1", pki.RoleManager, "198.18.0.1:4789"),
	addNode("n2", pki.RoleWorker, "198.18.0.2:4789"),
	addNode("n3", pki.RoleWorker, "198.18.0.3:4789"),
}

func mkNet(id, name, subnet string, mods ...func(*Network)) Command {
	n := &Network{ID: id, Name: name, Created: t0}
	if subnet != "" {
		n.Subnet = netip.MustParsePrefix(subnet)
	}
	for _, m := range mods {
		m(n)
	}
	return Command{Op: OpCreateNetwork, Network: n}
}

func mkAlloc(ep, netID, node, name, ip string) Command {
	a := &Allocation{EndpointID: ep, NetworkID: netID, Node: node, Name: name}
	if ip != "" {
		a.IP = netip.MustParseAddr(ip)
	}
	return Command{Op: OpAllocate, Allocation: a}
}

// with returns cmds followed by more, without aliasing either.
func with(cmds []Command, more ...Command) []Command {
	return append(append([]Command(nil), cmds...), more...)
}

func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v; want %v", what, got, want)
	}
}

func TestApplyUnknownOp(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "unknown", cmd: Command{Op: "Frobnicate"}, err: `unknown command op "Frobnicate"`, kind: ErrInvalid},
		{name: "empty", cmd: Command{}, err: `unknown command op ""`, kind: ErrInvalid},
	})
}

func TestApplySecretsAndPool(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "rotate worker", cmd: Command{Op: OpRotateSecret, Role: pki.RoleWorker, Secret: "w1"},
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "WorkerSecret", s.WorkerSecret, "w1")
				wantEqual(t, "ManagerSecret", s.ManagerSecret, "")
			},
		},
		{
			name:  "rotate manager",
			setup: []Command{{Op: OpRotateSecret, Role: pki.RoleManager, Secret: "m1"}},
			cmd:   Command{Op: OpRotateSecret, Role: pki.RoleManager, Secret: "m2"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "ManagerSecret", s.ManagerSecret, "m2") },
		},
		{name: "rotate bad role", cmd: Command{Op: OpRotateSecret, Role: "boss", Secret: "x"}, err: `role "boss" is neither`, kind: ErrInvalid},
		{name: "rotate empty secret", cmd: Command{Op: OpRotateSecret, Role: pki.RoleWorker}, err: "rotate worker secret: empty secret", kind: ErrInvalid},
		{
			name: "set pool", cmd: Command{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.0/16"), PoolSize: 26},
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "DefaultPool", s.DefaultPool, netip.MustParsePrefix("198.19.0.0/16"))
				wantEqual(t, "DefaultPoolSize", s.DefaultPoolSize, 26)
			},
		},
		{name: "pool size too small", cmd: Command{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.0/16"), PoolSize: 8}, err: "subnet size /8 is outside /16../32", kind: ErrInvalid},
		{name: "pool unmasked", cmd: Command{Op: OpSetDefaultPool, Pool: netip.MustParsePrefix("198.19.0.1/16"), PoolSize: 24}, err: "has host bits set", kind: ErrInvalid},
		{name: "pool missing", cmd: Command{Op: OpSetDefaultPool, PoolSize: 24}, err: "is not a valid prefix", kind: ErrInvalid},
	})
}

func gossipKey(b byte, n int) Command {
	k := make([]byte, n)
	for i := range k {
		k[i] = b
	}
	return Command{Op: OpAddGossipKey, Key: &Key{Key: k, Created: t0.Add(time.Duration(b) * time.Hour)}}
}

func TestApplyGossipKeys(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "first", cmd: gossipKey(1, 32),
			check: func(t *testing.T, got any, s *State) {
				k := got.(Key)
				wantEqual(t, "generation", k.Generation, 1)
				wantEqual(t, "keys kept", len(s.GossipKeys), 1)
			},
		},
		{
			name:  "keeps newest three, newest first",
			setup: []Command{gossipKey(1, 16), gossipKey(2, 24), primary(2), gossipKey(3, 32), primary(3)},
			cmd:   gossipKey(4, 32),
			check: func(t *testing.T, got any, s *State) {
				wantEqual(t, "returned generation", got.(Key).Generation, 4)
				var gens []uint64
				for _, k := range s.GossipKeys {
					gens = append(gens, k.Generation)
				}
				if !reflect.DeepEqual(gens, []uint64{4, 3, 2}) {
					t.Errorf("generations: got %v; want [4 3 2]", gens)
				}
				wantEqual(t, "newest created", s.GossipKeys[0].Created, t0.Add(4*time.Hour))
			},
		},
		{name: "bad length", cmd: gossipKey(1, 20), err: "key is 20 bytes; want 16, 24 or 32", kind: ErrInvalid},
		{name: "no key", cmd: Command{Op: OpAddGossipKey}, err: "command has no key", kind: ErrInvalid},
		{name: "duplicate", setup: []Command{gossipKey(1, 32), gossipKey(2, 32), primary(2)}, cmd: gossipKey(1, 32), err: "already installed as generation 1", kind: ErrConflict},
		{
			name: "the first is the primary", cmd: gossipKey(1, 32),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "primary", s.GossipPrimary, 1) },
		},
		{
			name: "a later one is not", setup: []Command{gossipKey(1, 32)}, cmd: gossipKey(2, 32),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "primary", s.GossipPrimary, 1) },
		},
		{
			name: "none while one waits to be primary", setup: []Command{gossipKey(1, 32), gossipKey(2, 32)}, cmd: gossipKey(3, 32),
			err: "generation 2 is not yet held by every member", kind: ErrConflict,
		},
	})
}

func primary(gen uint64) Command { return Command{Op: OpSetGossipPrimary, Generation: gen} }

func TestApplyGossipPrimary(t *testing.T) {
	keys := []Command{addNode("n1", pki.RoleWorker, "198.18.0.1:4789"), gossipKey(1, 32), gossipKey(2, 32)}
	held := func(gen uint64) Command { return Command{Op: OpGossipKeyHeld, NodeID: "n1", Generation: gen} }
	runApplyCases(t, []applyCase{
		{
			name: "held", setup: keys, cmd: held(2),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "n1 holds", s.Nodes["n1"].GossipKeyGen, 2) },
		},
		{
			name: "held never goes back", setup: append(slices.Clone(keys), held(2)), cmd: held(1),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "n1 holds", s.Nodes["n1"].GossipKeyGen, 2) },
		},
		{name: "held by a stranger", setup: keys, cmd: Command{Op: OpGossipKeyHeld, NodeID: "x", Generation: 2}, err: `no such node "x"`, kind: ErrNotFound},
		{name: "held, never issued", setup: keys, cmd: held(3), err: "generation 3, which was never issued", kind: ErrInvalid},
		{
			name: "primary", setup: keys, cmd: primary(2),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "primary", s.GossipPrimary, 2) },
		},
		{name: "primary not kept", setup: keys, cmd: primary(3), err: "generation 3 is not a kept key", kind: ErrInvalid},
		{name: "primary goes back", setup: append(slices.Clone(keys), primary(2)), cmd: primary(1), err: "newer than the primary 2", kind: ErrInvalid},
		{
			name: "a removed node asks for a new key", setup: append(slices.Clone(keys), addNode("n2", pki.RoleManager, "198.18.0.2:4789")),
			cmd:   Command{Op: OpRemoveNode, NodeID: "n1"},
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "rekey", s.GossipRekey, true) },
		},
		{
			name: "a rekey supersedes a pending key", setup: append(slices.Clone(keys), addNode("n2", pki.RoleManager, "198.18.0.2:4789"), Command{Op: OpRemoveNode, NodeID: "n1"}),
			cmd: gossipKey(3, 32),
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "rekey", s.GossipRekey, false)
				wantEqual(t, "retire below", s.GossipRetireBelow, 3)
				wantEqual(t, "primary", s.GossipPrimary, 1)
			},
		},
		{
			name: "retire", setup: append(slices.Clone(keys), primary(2)), cmd: Command{Op: OpRetireGossipKeys, Generation: 2},
			check: func(t *testing.T, _ any, s *State) {
				wantEqual(t, "keys kept", len(s.GossipKeys), 1)
				wantEqual(t, "kept", s.GossipKeys[0].Generation, 2)
			},
		},
		{name: "retire the primary", setup: keys, cmd: Command{Op: OpRetireGossipKeys, Generation: 2}, err: "the primary is 1", kind: ErrInvalid},
	})
}

func TestApplyCertExpiry(t *testing.T) {
	set := func(d time.Duration) Command { return Command{Op: OpSetCertExpiry, CertExpiry: d} }
	runApplyCases(t, []applyCase{
		{
			name: "a minute", cmd: set(time.Minute),
			check: func(t *testing.T, _ any, s *State) { wantEqual(t, "expiry", s.CertExpiry, time.Minute) },
		},
		{name: "too short", cmd: set(59 * time.Second), err: "certificate expiry 59s: want between 1m0s and", kind: ErrInvalid},
		{name: "longer than the CA", cmd: set(11 * 365 * 24 * time.Hour), err: "want between", kind: ErrInvalid},
	})
}
