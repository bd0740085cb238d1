package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/internal/poll"
)

// TestGossipIsSignedWithNodeKeys: every node's key is recorded as its
// certificate's; a record one node publishes of its allocation reaches the
// others, who check it and drop nothing; a record another member
// publishes, in its own name, of that endpoint is dropped everywhere.
func TestGossipIsSignedWithNodeKeys(t *testing.T) {
	t.Parallel()
	m, tokens := initNode(t, testConfig(t, "m1"))
	w1 := joinNode(t, testConfig(t, "w1"), tokens.Worker, m)
	w2 := joinNode(t, testConfig(t, "w2"), tokens.Worker, m)
	nodes := []*Node{m, w1, w2}
	st := state(t, m)
	for _, n := range nodes {
		want, _ := x509.MarshalPKIXPublicKey(n.id.Leaf.PublicKey)
		if got := st.Nodes[n.ID()]; got == nil || !bytes.Equal(got.PublicKey, want) {
			t.Errorf("the cluster's key of %s is not its certificate's", n.cfg.Hostname)
		}
	}
	ctx := testContext(t)
	var nw store.Network
	create := store.Command{Op: store.OpCreateNetwork, Network: &store.Network{ID: "net1", Name: "web", Attachable: true, Subnet: netip.MustParsePrefix("198.19.9.0/24"), Created: time.Unix(0, 0)}}
	if err := m.Apply(ctx, create, &nw); err != nil {
		t.Fatal(err)
	}
	var a store.Allocation
	alloc := store.Command{Op: store.OpAllocate, Allocation: &store.Allocation{EndpointID: "ep1", NetworkID: "net1", Node: w1.ID(), Name: "c1", MAC: "02:42:c6:13:09:02"}}
	if err := w1.Apply(ctx, alloc, &a); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.Agent().SetInterest([]string{"net1"})
	}
	poll.Until(t, 10*time.Second, "every node alive in every node's gossip", func() bool { return allAlive(nodes...) })
	mac, _ := fdb.ParseMAC(a.MAC)
	r := w1.Agent().Publish(gossip.Record{EndpointID: "ep1", Network: "net1", VNI: nw.VNI, IP: a.IP, MAC: mac, Name: "c1", VTEP: w1.cfg.DataAddr})
	for _, n := range []*Node{m, w2} {
		poll.Until(t, 5*time.Second, "w1's record on "+n.cfg.Hostname, func() bool {
			got, ok := n.Agent().Record("ep1")
			return ok && got.Version == r.Version
		})
		for reason, count := range n.Agent().Dropped() {
			if count != 0 {
				t.Errorf("%s dropped %d gossip messages for %s", n.cfg.Hostname, count, reason)
			}
		}
	}
	// w2 publishes ep1 as its own, pointing at itself.
	w2.Agent().Publish(gossip.Record{EndpointID: "ep1", Network: "net1", VNI: nw.VNI, IP: a.IP, MAC: mac, Name: "c1", VTEP: w2.cfg.DataAddr})
	for _, n := range []*Node{m, w1} {
		poll.Until(t, 5*time.Second, n.cfg.Hostname+" to drop w2's claim", func() bool { return n.Agent().Dropped()[gossip.DropClaim] > 0 })
		if got, _ := n.Agent().Record("ep1"); got.Node != w1.ID() || got.VTEP != w1.cfg.DataAddr {
			t.Errorf("%s holds %+v for ep1; want w1's", n.cfg.Hostname, got)
		}
	}
}

// TestGossipTrustOwns: a live record must be its allocation to the letter,
// on its network's VNI and its node's data address; a tombstone may be of
// any endpoint but another node's; an endpoint not allocated yet is
// unknown until the state that has it is read.
func TestGossipTrustOwns(t *testing.T) {
	st := store.NewState()
	st.Nodes["a"] = &store.Node{ID: "a", DataAddr: netip.MustParseAddrPort("198.18.0.1:4789")}
	st.Nodes["b"] = &store.Node{ID: "b", DataAddr: netip.MustParseAddrPort("198.18.0.2:4789")}
	st.Networks["net1"] = &store.Network{ID: "net1", VNI: 4097}
	st.Allocations["ep1"] = &store.Allocation{EndpointID: "ep1", NetworkID: "net1", Node: "a", Name: "web", IP: netip.MustParseAddr("198.19.7.2"), MAC: "02:42:c6:13:07:02", Aliases: []string{"www"}}
	k := newGossipTrust("self", mustKey(t).Public(), func() {})
	k.update(st, "self")
	mac, _ := fdb.ParseMAC("02:42:c6:13:07:02")
	good := gossip.Record{EndpointID: "ep1", Network: "net1", VNI: 4097, IP: netip.MustParseAddr("198.19.7.2"), MAC: mac,
		VTEP: netip.MustParseAddrPort("198.18.0.1:4789"), Node: "a", Name: "web", Aliases: []string{"www"}}
	change := func(f func(*gossip.Record)) gossip.Record { r := good; f(&r); return r }
	for _, tt := range []struct {
		name string
		r    gossip.Record
		want gossip.Verdict
	}{
		{"its own", good, gossip.Valid},
		{"another owner", change(func(r *gossip.Record) { r.Node, r.VTEP = "b", st.Nodes["b"].DataAddr }), gossip.Forged},
		{"another address", change(func(r *gossip.Record) { r.IP = netip.MustParseAddr("198.19.7.3") }), gossip.Forged},
		{"another MAC", change(func(r *gossip.Record) { r.MAC[5]++ }), gossip.Forged},
		{"another name: renamed after this state", change(func(r *gossip.Record) { r.Name = "db" }), gossip.Unknown},
		{"more aliases: renamed after this state", change(func(r *gossip.Record) { r.Aliases = []string{"www", "db"} }), gossip.Unknown},
		{"another VNI", change(func(r *gossip.Record) { r.VNI = 4098 }), gossip.Forged},
		{"a third host's VTEP", change(func(r *gossip.Record) { r.VTEP = netip.MustParseAddrPort("198.18.0.9:4789") }), gossip.Forged},
		{"its tombstone", change(func(r *gossip.Record) { r.Deleted = true }), gossip.Valid},
		{"another's tombstone", change(func(r *gossip.Record) { r.Deleted, r.Node = true, "b" }), gossip.Forged},
		{"tombstone of a released endpoint", change(func(r *gossip.Record) { r.EndpointID, r.Deleted, r.Node = "gone", true, "b" }), gossip.Valid},
		{"not allocated yet", change(func(r *gossip.Record) { r.EndpointID = "ep2" }), gossip.Unknown},
	} {
		if got := k.Owns(tt.r); got != tt.want {
			t.Errorf("%s: Owns = %v; want %v", tt.name, got, tt.want)
		}
	}
	st.Allocations["ep2"] = &store.Allocation{EndpointID: "ep2", NetworkID: "net1", Node: "a", IP: netip.MustParseAddr("198.19.7.4"), MAC: "02:42:c6:13:07:04"}
	if !k.update(st, "self") {
		t.Error("update reported nothing learnt after a new allocation")
	}
	st.Allocations["ep1"].Name = "db"
	if !k.update(st, "self") {
		t.Error("update reported nothing learnt after a rename")
	}
	if got := k.Owns(change(func(r *gossip.Record) { r.Name = "db" })); got != gossip.Valid {
		t.Errorf("renamed record after the state has the name: Owns = %v; want Valid", got)
	}
	if k.update(st, "self") {
		t.Error("update reported something learnt from the same state")
	}
}

// TestNodeKeysVerify: a message verifies under the name of the node whose
// key signed it and no other; a node with no key known is unknown, and
// asks for a poll at once, and for one more kickEvery later however many
// more come meanwhile; a node no longer in the state is forgotten.
func TestNodeKeysVerify(t *testing.T) {
	ka, kb := mustKey(t), mustKey(t)
	st := store.NewState()
	st.Nodes["a"] = &store.Node{ID: "a", PublicKey: der(t, ka)}
	st.Nodes["b"] = &store.Node{ID: "b", PublicKey: der(t, kb)}
	var kicks atomic.Int32
	self := mustKey(t)
	k := newGossipTrust("self", self.Public(), func() { kicks.Add(1) })
	if !k.update(st, "self") {
		t.Error("update reported no key learnt")
	}
	if k.update(st, "self") {
		t.Error("update of the same state reported a key learnt")
	}
	msg := []byte("weft gossip record v1 a's")
	sigA, _ := pki.SignMessage(ka, msg)
	sigSelf, _ := pki.SignMessage(self, msg)
	for _, tt := range []struct {
		node string
		sig  []byte
		want gossip.Verdict
	}{
		{"a", sigA, gossip.Valid},
		{"b", sigA, gossip.Forged},
		{"a", nil, gossip.Forged},
		{"self", sigSelf, gossip.Valid},
		{"c", sigA, gossip.Unknown},
		{"c", sigA, gossip.Unknown},
		{"c", sigA, gossip.Unknown},
	} {
		if got := k.Verify(tt.node, msg, tt.sig); got != tt.want {
			t.Errorf("Verify(%s) = %v; want %v", tt.node, got, tt.want)
		}
	}
	if n := kicks.Load(); n != 1 {
		t.Errorf("%d polls asked at once for three unknown messages in a row; want 1", n)
	}
	poll.Until(t, time.Second, "the second poll asked", func() bool { return kicks.Load() == 2 })
	time.Sleep(3 * kickEvery)
	if n := kicks.Load(); n != 2 {
		t.Errorf("%d polls asked for three unknown messages in a row; want 2", n)
	}
	delete(st.Nodes, "b")
	k.update(st, "self")
	if got := k.Verify("b", msg, sigA); got != gossip.Unknown {
		t.Errorf("Verify of a removed node = %v; want Unknown", got)
	}
}

// TestNodeKeyIsTheCertificates: a node that reports a key gets the one of
// its certificate recorded, whatever it sent and for whichever node.
func TestNodeKeyIsTheCertificates(t *testing.T) {
	t.Parallel()
	m, tokens := initNode(t, testConfig(t, "m1"))
	w := joinNode(t, testConfig(t, "w1"), tokens.Worker, m)
	before := state(t, m)
	forged := der(t, mustKey(t))
	err := w.client.Apply(testContext(t), store.Command{Op: store.OpSetNodeKey, NodeID: m.ID(), PublicKey: forged}, nil)
	if err != nil {
		t.Fatalf("a node's report of its own key was refused: %v", err)
	}
	after := state(t, m)
	for _, id := range []string{m.ID(), w.ID()} {
		if !bytes.Equal(after.Nodes[id].PublicKey, before.Nodes[id].PublicKey) {
			t.Errorf("the key of %s changed", id)
		}
	}
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func der(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
