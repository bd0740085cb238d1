package cluster

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// A node signs its gossip with the key of its node certificate, and checks
// the others' against the keys the managers recorded when each node was
// admitted (store.Node.PublicKey), and their records against the
// allocations the managers made. A worker can thus speak in gossip only
// for itself and only of its own endpoints, and a removed node's key is
// forgotten with it.

// keySigner signs gossip with a node key.
type keySigner struct{ key crypto.Signer }

func (s keySigner) Sign(msg []byte) ([]byte, error) { return pki.SignMessage(s.key, msg) }

// kickEvery bounds how often messages that cannot be checked yet make the
// node ask the managers for the cluster's state: one that comes sooner
// after the last ask is served by one more ask, kickEvery after it.
const kickEvery = 100 * time.Millisecond

// gossipTrust is the gossip Verifier: the cluster's node keys, allocations,
// networks and data addresses, as of the last state this node read.
type gossipTrust struct {
	kick func() // asks for a poll now; must not block

	mu       sync.Mutex
	raw      map[string][]byte // node → key as recorded (PKIX DER)
	keys     map[string]crypto.PublicKey
	allocs   map[string]store.Allocation // endpoint ID → its allocation
	vnis     map[string]uint32           // network ID → VNI
	vteps    map[string]netip.AddrPort   // node → data address
	lastKick time.Time
	queued   bool // an ask is scheduled at lastKick + kickEvery
}

func newGossipTrust(self string, pub crypto.PublicKey, kick func()) *gossipTrust {
	return &gossipTrust{kick: kick, raw: map[string][]byte{}, keys: map[string]crypto.PublicKey{self: pub}}
}

// Verify checks that node signed msg. A node with no key known yet may be
// one that has just joined (see unknown).
func (t *gossipTrust) Verify(node string, msg, sig []byte) gossip.Verdict {
	t.mu.Lock()
	pub, ok := t.keys[node]
	t.mu.Unlock()
	switch {
	case !ok:
		return t.unknown()
	case pki.VerifyMessage(pub, msg, sig):
		return gossip.Valid
	default:
		return gossip.Forged
	}
}

// Owns checks that r is what the managers gave r.Node: a live record must
// carry its allocation's node, network, address, MAC, name and aliases,
// the network's VNI and the node's data address; a tombstone may only be
// of an endpoint that is not another node's. An endpoint with no
// allocation known may have been allocated just now, and one whose name or
// aliases differ renamed just now (see unknown): such a record is held,
// and dropped if no state read within the hold bears it out.
func (t *gossipTrust) Owns(r gossip.Record) gossip.Verdict {
	t.mu.Lock()
	a, ok := t.allocs[r.EndpointID]
	vni, vtep := t.vnis[r.Network], t.vteps[r.Node]
	t.mu.Unlock()
	switch {
	case r.Deleted && (!ok || a.Node == r.Node):
		return gossip.Valid
	case !ok:
		return t.unknown()
	case a.Node != r.Node || a.NetworkID != r.Network || a.IP != r.IP || a.MAC != r.MAC.String() ||
		vni != r.VNI || vtep.IsValid() && vtep != r.VTEP:
		return gossip.Forged
	case a.Name != r.Name || !slices.Equal(a.Aliases, r.Aliases):
		return t.unknown() // renamed (SetNames) after the state read here: held until a newer one says so
	}
	return gossip.Valid
}

// unknown asks the managers for the state soon: at once, or kickEvery
// after the last ask. The gossip agent holds the message meanwhile, and
// retries it when this node learns something new (update).
func (t *gossipTrust) unknown() gossip.Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.queued {
		return gossip.Unknown
	}
	wait := kickEvery - time.Since(t.lastKick)
	if wait <= 0 {
		t.lastKick = time.Now()
		t.kick()
		return gossip.Unknown
	}
	t.queued = true
	time.AfterFunc(wait, func() {
		t.mu.Lock()
		t.queued, t.lastKick = false, time.Now()
		t.mu.Unlock()
		t.kick()
	})
	return gossip.Unknown
}

// update takes what st says of nodes, networks and allocations, and
// reports whether a node's key or an allocation is new: messages held for
// one may now be checked. Nodes no longer in st are forgotten, this node
// excepted.
func (t *gossipTrust) update(st *store.State, self string) (learned bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range t.raw {
		if _, ok := st.Nodes[id]; !ok && id != self {
			delete(t.raw, id)
			delete(t.keys, id)
		}
	}
	t.vteps = make(map[string]netip.AddrPort, len(st.Nodes))
	for id, n := range st.Nodes {
		t.vteps[id] = n.DataAddr
		if len(n.PublicKey) == 0 || bytes.Equal(t.raw[id], n.PublicKey) {
			continue
		}
		pub, err := pki.ParseNodeKey(n.PublicKey)
		if err != nil {
			continue
		}
		t.raw[id], t.keys[id] = n.PublicKey, pub
		learned = learned || id != self
	}
	t.vnis = make(map[string]uint32, len(st.Networks))
	for id, n := range st.Networks {
		t.vnis[id] = n.VNI
	}
	allocs := make(map[string]store.Allocation, len(st.Allocations))
	for id, a := range st.Allocations {
		if old, had := t.allocs[id]; !had || old.Name != a.Name || !slices.Equal(old.Aliases, a.Aliases) {
			learned = true // a new allocation, or a renamed one: retry what was held for it
		}
		allocs[id] = *a
	}
	t.allocs = allocs
	return learned
}

// followNodeKeys takes what st says for checking gossip, retrying what was
// held for what is now known, and reports this node's own key if the
// cluster has not recorded it (a node that joined before keys were).
func (n *Node) followNodeKeys(st *store.State) {
	if n.verifier.update(st, n.nodeID) {
		n.agent.Retry()
	}
	if self, ok := st.Nodes[n.nodeID]; !ok || len(self.PublicKey) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, pollTimeout)
	defer cancel()
	pub, _ := x509.MarshalPKIXPublicKey(n.id.Leaf.PublicKey) // a node key, which always marshals
	if err := n.Apply(ctx, store.Command{Op: store.OpSetNodeKey, NodeID: n.nodeID, PublicKey: pub}, nil); err != nil {
		n.log.Warn("reporting this node's key failed; retrying at the next poll", "err", err)
	}
}
