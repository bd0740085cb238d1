package gossip

import (
	"crypto/ed25519"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weftnet/weft/internal/poll"
)

// testKeys gives each test node a key, signs as any of them, and verifies
// against the keys it has been told to know; a record is owned by the
// node owners names for its endpoint, if any.
type testKeys struct {
	mu     sync.Mutex
	keys   map[string]ed25519.PrivateKey
	known  map[string]bool
	owners map[string]string // endpoint ID → owner
	gone   map[string]bool   // endpoint IDs not allocated: Owns is Unknown
}

func newTestKeys() *testKeys {
	return &testKeys{keys: make(map[string]ed25519.PrivateKey), known: make(map[string]bool), owners: make(map[string]string), gone: make(map[string]bool)}
}

func (k *testKeys) Owns(r Record) Verdict {
	k.mu.Lock()
	defer k.mu.Unlock()
	if owner, ok := k.owners[r.EndpointID]; ok && owner != r.Node {
		return Forged
	}
	if k.gone[r.EndpointID] {
		return Unknown
	}
	return Valid
}

// key returns node's key, making it (and making it known) on first use
// unless unknown is set.
func (k *testKeys) key(node string, known bool) ed25519.PrivateKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[node]; ok {
		return key
	}
	_, key, _ := ed25519.GenerateKey(nil)
	k.keys[node] = key
	k.known[node] = known
	return key
}

func (k *testKeys) learn(node string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.known[node] = true
}

func (k *testKeys) Verify(node string, msg, sig []byte) Verdict {
	k.mu.Lock()
	key, ok := k.keys[node]
	known := k.known[node]
	k.mu.Unlock()
	switch {
	case !ok || !known:
		return Unknown
	case ed25519.Verify(key.Public().(ed25519.PublicKey), msg, sig):
		return Valid
	default:
		return Forged
	}
}

// signerFunc signs with one key.
type signerFunc func([]byte) ([]byte, error)

func (f signerFunc) Sign(msg []byte) ([]byte, error) { return f(msg) }

func (k *testKeys) signer(node string) Signer {
	key := k.key(node, true)
	return signerFunc(func(msg []byte) ([]byte, error) { return ed25519.Sign(key, msg), nil })
}

// signed makes every agent of a test cluster sign with its own key and
// verify against keys.
func signed(keys *testKeys) func(*Config) {
	return func(c *Config) {
		c.Signer, c.Verifier = keys.signer(c.NodeID), keys
	}
}

// signedCluster starts a, b and c, joined and signing, with a's record e1
// on every node.
func signedCluster(t *testing.T) (*testKeys, []*Agent, Record) {
	keys := newTestKeys()
	agents, _ := newTestCluster(t, signed(keys)).startJoined("a", "b", "c")
	r := agents[0].Publish(testRecord("n1", "e1", 1))
	for _, x := range agents {
		poll.Until(t, 3*time.Second, "a's e1 on "+x.cfg.NodeID, func() bool { got, _ := x.Record("e1"); return recordsEqual(got, r) })
	}
	return keys, agents, r
}

// TestForgedRecordsAreDropped: c, a member, sends records in a's name:
// signed with its own key, unsigned, or a's genuine record with its VTEP
// changed. None is stored or passed on; each is counted.
func TestForgedRecordsAreDropped(t *testing.T) {
	keys, agents, genuine := signedCluster(t)
	a, b, c := agents[0], agents[1], agents[2]
	hijack := genuine
	hijack.VTEP = c.cfg.Meta.VTEP
	hijack.Version = genuine.Version + 1
	withC := hijack
	withC.Sig = c.sign(recordMsg(withC))
	unsigned := hijack
	unsigned.Sig = nil
	altered := hijack
	altered.Sig = genuine.Sig
	tomb := genuine.tombstone(genuine.Version + 1)
	tomb.Sig, _ = keys.signer("c").Sign(recordMsg(tomb))
	fresh := testRecord("n1", "e9", 9)
	fresh.Node, fresh.Version = "a", genuine.Version
	fresh.Sig = c.sign(recordMsg(fresh))
	for _, r := range []Record{withC, unsigned, altered, tomb, fresh} {
		c.broadcast(r)
	}
	poll.Until(t, 3*time.Second, "b to drop five forged records", func() bool { return b.Dropped()[DropSignature] >= 5 })
	time.Sleep(300 * time.Millisecond) // gossip rounds in which a relayed forgery would arrive
	for _, x := range []*Agent{a, b} {
		if got, _ := x.Record("e1"); !recordsEqual(got, genuine) {
			t.Errorf("%s holds %+v for e1; want a's own %+v", x.cfg.NodeID, got, genuine)
		}
		if _, ok := x.Record("e9"); ok {
			t.Errorf("%s holds a record e9 that a never published", x.cfg.NodeID)
		}
	}
	if n := a.Dropped()[DropSignature]; n == 0 {
		t.Error("a counted no forged record")
	}
}

// TestClaimsOnAnotherNodesEndpointAreDropped: c publishes, in its own
// name and signed, a record for a's endpoint pointing at itself, and a
// tombstone for it; b takes neither.
func TestClaimsOnAnotherNodesEndpointAreDropped(t *testing.T) {
	keys, agents, genuine := signedCluster(t)
	keys.mu.Lock()
	keys.owners["e1"] = "a"
	keys.mu.Unlock()
	b, c := agents[1], agents[2]
	claim := genuine
	claim.Node, claim.VTEP, claim.Version = "c", c.cfg.Meta.VTEP, genuine.Version+1
	c.broadcast(c.signRecord(claim))
	tomb := c.signRecord(claim.tombstone(claim.Version + 1))
	c.broadcast(tomb)
	poll.Until(t, 3*time.Second, "b to drop c's two claims", func() bool { return b.Dropped()[DropClaim] >= 2 })
	if got, _ := b.Record("e1"); !recordsEqual(got, genuine) {
		t.Errorf("b holds %+v for e1; want a's own %+v", got, genuine)
	}
}

// TestOwnEarlierRecordIsRefutedWhenItsEndpointIsGone: a copy of a record
// an earlier run of this node published, of an endpoint since released,
// is still answered with a tombstone, so that the others drop it.
func TestOwnEarlierRecordIsRefutedWhenItsEndpointIsGone(t *testing.T) {
	keys := newTestKeys()
	keys.gone["e7"] = true
	a, _ := newTestCluster(t, signed(keys)).start("a")
	old := testRecord("n1", "e7", 7)
	old.Node, old.Version = "a", ahead()
	old = a.signRecord(old)
	a.merge([]Record{old}, false)
	if got, _ := a.Record("e7"); !got.Deleted || got.Version <= old.Version {
		t.Errorf("a holds %+v; want its tombstone above version %d", got, old.Version)
	}
}

// TestForgedInterestAndLeaveAreDropped: c says in a's name that a left n1,
// and that a is leaving; b believes neither.
func TestForgedInterestAndLeaveAreDropped(t *testing.T) {
	_, agents, _ := signedCluster(t)
	a, b, c := agents[0], agents[1], agents[2]
	in := interest{Node: "a", Network: "n1", Life: a.life, Version: ahead(), Left: true}
	in.Sig = c.sign(interestMsg(in))
	c.broadcastInterest(in)
	l := leaveNotice{Node: "a", Life: a.life}
	l.Sig = c.sign(leaveMsg(l))
	c.queue.QueueBroadcast(&broadcast{name: "l/a", msg: encodeLeave(l)})
	poll.Until(t, 3*time.Second, "b to drop the forged interest and leave", func() bool { return b.Dropped()[DropSignature] >= 2 })
	time.Sleep(300 * time.Millisecond)
	if got := b.Interested("n1"); !slices.Contains(got, "a") {
		t.Errorf("b.Interested(n1) = %v; want a in it", got)
	}
	if s := stateOf(b, "a"); s != StateAlive {
		t.Errorf("b sees a %v; want alive", s)
	}
	if got, ok := b.Record("e1"); !ok || len(b.Records("n1")) == 0 {
		t.Errorf("b hides a's records after a forged leave: %+v", got)
	}
}

// TestFutureVersionsAreRefused: even signed by its owner, a version
// further ahead than MaxClockSkew is dropped, so that no copy can take a
// version its owner cannot outbid.
func TestFutureVersionsAreRefused(t *testing.T) {
	keys, agents, genuine := signedCluster(t)
	a, b := agents[0], agents[1]
	for _, v := range []uint64{math.MaxUint64, uint64(time.Now().Add(2 * time.Minute).UnixNano())} {
		r := genuine
		r.Version = v
		r.Sig, _ = keys.signer("a").Sign(recordMsg(r))
		b.merge([]Record{r}, true)
	}
	if n := b.Dropped()[DropFutureVersion]; n != 2 {
		t.Errorf("b dropped %d records for their version; want 2", n)
	}
	if got, _ := b.Record("e1"); !recordsEqual(got, genuine) {
		t.Errorf("b holds %+v; want %+v", got, genuine)
	}
	next := testRecord("n1", "e1", 2)
	up := a.Publish(next)
	poll.Until(t, 3*time.Second, "a's new version on b", func() bool { got, _ := b.Record("e1"); return recordsEqual(got, up) })
}

// TestUnknownIsHeldUntilRetry: a record from a node whose key b
// does not know yet is held, not stored, and merged once b learns the key.
func TestUnknownIsHeldUntilRetry(t *testing.T) {
	keys := newTestKeys()
	keys.key("d", false)
	c := newTestCluster(t, signed(keys))
	b, _ := c.start("b")
	d, _ := c.start("d")
	if _, err := d.Join([]string{c.addr("b")}); err != nil {
		t.Fatal(err)
	}
	r := d.Publish(testRecord("n1", "e4", 4))
	poll.Until(t, 3*time.Second, "b to hold d's record", func() bool {
		b.heldMu.Lock()
		defer b.heldMu.Unlock()
		return slices.ContainsFunc(b.held, func(h held) bool { return h.rec != nil && h.rec.EndpointID == "e4" })
	})
	if _, ok := b.Record("e4"); ok {
		t.Fatal("b stored a record whose signer it could not check")
	}
	keys.learn("d")
	b.Retry()
	poll.Until(t, 3*time.Second, "d's record on b after Retry", func() bool { got, _ := b.Record("e4"); return recordsEqual(got, r) })
	if n := b.Dropped()[DropSignature]; n != 0 {
		t.Errorf("b counted %d forged messages; want none", n)
	}
}

// TestSignedConfigNeedsBoth: a Signer without a Verifier, or the reverse,
// is refused.
func TestSignedConfigNeedsBoth(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID = "a"
	cfg.Verifier = newTestKeys()
	if err := cfg.validate(); err == nil {
		t.Error("a Verifier without a Signer was accepted")
	}
}

func stateOf(a *Agent, id string) MemberState {
	for _, m := range a.Members() {
		if m.ID == id {
			return m.State
		}
	}
	return StateDead
}
