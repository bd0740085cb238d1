package gossip

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Every record, interest and leave notice is signed by the node it speaks
// for (Record.Node, interest.Node, leaveNotice.Node), over a canonical
// encoding of all its fields, and checked before it is merged, stored or
// passed on. Copies travel with their owner's signature, so a relay or a
// sync can carry them but not change them: a member can speak only for
// itself. A record must also be one its owner may publish (Verifier.Owns:
// its endpoint and addresses are the owner's). A message that fails is
// dropped and counted; one that cannot be checked yet (a node that has
// just joined, an endpoint just allocated, before this node has learnt of
// them) is held for a while and tried again at Retry.

// Signer signs this node's messages with the key bound to its identity.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Verdict is what a Verifier says of a message.
type Verdict int

const (
	Valid   Verdict = iota // what it claims holds
	Forged                 // what it claims does not hold
	Unknown                // what it is checked against is not known yet
)

// Verifier checks messages from other nodes.
type Verifier interface {
	// Verify checks that node signed msg.
	Verify(node string, msg, sig []byte) Verdict
	// Owns checks that r.Node may publish r: that the endpoint, its
	// network and addresses are those the cluster gave that node.
	Owns(r Record) Verdict
}

// Reasons a message from another node is dropped, as Dropped reports them.
const (
	DropSignature     = "signature"      // its signature is not its node's
	DropClaim         = "claim"          // a record its node may not publish (see Verifier.Owns)
	DropUnverified    = "unverified"     // it could not be checked within heldFor (see Retry)
	DropFutureVersion = "future_version" // its version is further ahead of this node's clock than MaxClockSkew
)

// dropReasons lists the reasons, in the order of Agent.drops.
var dropReasons = [...]string{DropSignature, DropClaim, DropUnverified, DropFutureVersion}

const (
	dropSignature = iota
	dropClaim
	dropUnverified
	dropFutureVersion
)

// maxHeld bounds the messages held until they can be checked; the oldest
// is dropped first.
const maxHeld = 4096

// heldFor is how long a message waits until it can be checked.
const heldFor = 30 * time.Second

// Message encodings that signatures cover: a domain tag, then every field
// in a fixed order, strings and byte strings with a uvarint length.
const (
	tagRecord   = "weft gossip record v1"
	tagInterest = "weft gossip interest v1"
	tagLeave    = "weft gossip leave v1"
)

// recordMsg returns what the owner of r signs.
func recordMsg(r Record) []byte {
	b := make([]byte, 0, 160)
	b = appendString(b, tagRecord)
	b = appendString(b, r.EndpointID)
	b = appendString(b, r.Network)
	b = binary.BigEndian.AppendUint32(b, r.VNI)
	b = appendAddr(b, r.IP)
	b = append(b, r.MAC[:]...)
	b = appendAddr(b, r.VTEP.Addr())
	b = binary.BigEndian.AppendUint16(b, r.VTEP.Port())
	b = appendString(b, r.Node)
	b = appendString(b, r.Name)
	b = binary.AppendUvarint(b, uint64(len(r.Aliases)))
	for _, s := range r.Aliases {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, r.Boot)
	b = binary.BigEndian.AppendUint64(b, r.KeyGen)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	return appendBool(b, r.Deleted)
}

// interestMsg returns what the node of in signs.
func interestMsg(in interest) []byte {
	b := make([]byte, 0, 96)
	b = appendString(b, tagInterest)
	b = appendString(b, in.Node)
	b = appendString(b, in.Network)
	b = binary.BigEndian.AppendUint64(b, in.Life)
	b = binary.BigEndian.AppendUint64(b, in.Version)
	return appendBool(b, in.Left)
}

// leaveMsg returns what a leaving node signs.
func leaveMsg(l leaveNotice) []byte {
	b := make([]byte, 0, 64)
	b = appendString(b, tagLeave)
	b = appendString(b, l.Node)
	return binary.BigEndian.AppendUint64(b, l.Life)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendAddr appends an address as its 0, 4 or 16 bytes, length first.
func appendAddr(b []byte, a netip.Addr) []byte {
	raw := a.AsSlice()
	b = binary.AppendUvarint(b, uint64(len(raw)))
	return append(b, raw...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// sign returns this node's signature of msg: nil when gossip is unsigned
// (no Signer), or when signing failed, which is logged; the others then
// drop the message.
func (a *Agent) sign(msg []byte) []byte {
	if a.cfg.Signer == nil {
		return nil
	}
	sig, err := a.cfg.Signer.Sign(msg)
	if err != nil {
		a.log.Error("signing a gossip message failed; the others will drop it", "err", err)
		return nil
	}
	return sig
}

// signRecord returns r signed by this node.
func (a *Agent) signRecord(r Record) Record {
	r.Sig = a.sign(recordMsg(r))
	return r
}

// verify returns the Verifier's verdict on node's signature of msg; every
// message is Valid when gossip is unsigned.
func (a *Agent) verify(node string, msg, sig []byte) Verdict {
	if a.cfg.Verifier == nil {
		return Valid
	}
	return a.cfg.Verifier.Verify(node, msg, sig)
}

// verifyRecord returns the verdict on r, signature first, and the reason
// to drop it if Forged. A copy of this node's own record, signed by it,
// needs no more: it comes from an earlier run, whose endpoint may be gone,
// and is answered by refutation.
func (a *Agent) verifyRecord(r Record) (Verdict, int) {
	if v := a.verify(r.Node, recordMsg(r), r.Sig); v != Valid || a.cfg.Verifier == nil || r.Node == a.cfg.NodeID {
		return v, dropSignature
	}
	return a.cfg.Verifier.Owns(r), dropClaim
}

// tooNew reports whether a version was made further ahead of now than
// MaxClockSkew: no honest node's clock is, and a version near the top of
// the range would leave its owner no version above it to answer with.
func (a *Agent) tooNew(version uint64, now time.Time) bool {
	return versionTime(version).After(now.Add(a.cfg.MaxClockSkew))
}

// drop counts a message dropped for reason and logs it; the log is thinned
// to powers of two per reason, so that a flood of forgeries does not
// flood the log.
func (a *Agent) drop(reason int, what, node string) {
	n := a.drops[reason].Add(1)
	if n&(n-1) == 0 {
		a.log.Warn("dropping gossip message", "reason", dropReasons[reason], "what", what, "claimed_node", node, "dropped_so_far", n)
	}
}

// Dropped returns how many messages from other nodes this agent dropped,
// by reason (every reason present, zero if none).
func (a *Agent) Dropped() map[string]uint64 {
	out := make(map[string]uint64, len(dropReasons))
	for i, r := range dropReasons {
		out[r] = a.drops[i].Load()
	}
	return out
}

// held is a message that could not be checked when it came.
type held struct {
	rec   *Record
	in    *interest
	leave *leaveNotice
	relay bool   // it came as a broadcast, to pass on if new
	from  string // the sender of the sync it came in
	since time.Time
}

// hold keeps h for Retry, dropping the oldest held message if full.
func (a *Agent) hold(h held) {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	if len(a.held) >= maxHeld {
		a.held = a.held[1:]
		a.drops[dropUnverified].Add(1)
	}
	a.held = append(a.held, h)
}

// Retry checks again the messages that could not be checked when they
// came: call it when the Verifier has learnt new keys or allocations.
// Those still unknown after heldFor are dropped and counted.
func (a *Agent) Retry() {
	a.heldMu.Lock()
	hs := a.held
	a.held = nil
	a.heldMu.Unlock()
	for _, h := range hs {
		switch {
		case h.rec != nil:
			a.mergeChecked(a.checkRecords([]Record{*h.rec}, h.relay, h.from, h.since), h.relay, h.from)
		case h.in != nil:
			a.applyInterests(a.checkInterests([]interest{*h.in}, h.relay, h.since), h.relay)
		case h.leave != nil:
			a.checkLeave(*h.leave, h.since)
		}
	}
}

// expireHeld drops the held messages older than heldFor.
func (a *Agent) expireHeld(now time.Time) {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	kept := a.held[:0]
	for _, h := range a.held {
		if now.Sub(h.since) > heldFor {
			a.drop(dropUnverified, "held message", heldNode(h))
			continue
		}
		kept = append(kept, h)
	}
	clear(a.held[len(kept):])
	a.held = kept
}

func heldNode(h held) string {
	switch {
	case h.rec != nil:
		return h.rec.Node
	case h.in != nil:
		return h.in.Node
	default:
		return h.leave.Node
	}
}

// judge applies a verdict on a message that arrived at since: it reports
// whether the message may be applied, and holds it (Unknown) or drops and
// counts it (Forged, for reason) otherwise. A message held for longer than
// heldFor is dropped.
func (a *Agent) judge(v Verdict, reason int, h held, what, node string) bool {
	switch v {
	case Valid:
		return true
	case Unknown:
		if time.Since(h.since) > heldFor {
			a.drop(dropUnverified, what, node)
		} else {
			a.hold(h)
		}
	default:
		a.drop(reason, what, node)
	}
	return false
}
