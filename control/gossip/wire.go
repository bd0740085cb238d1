package gossip

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/weftnet/weft/fdb"
)

// Message types: the first byte of every message.
const (
	msgRecord   byte = 1 // one Record, as JSON; sent to the members that have its network
	msgLeave    byte = 2 // a leaveNotice, as JSON; sent to everyone
	msgInterest byte = 3 // one interest, as JSON; sent to everyone
	msgSync     byte = 4 // a syncMsg, as JSON; sent to one member over a stream
	msgBatch    byte = 5 // several of the above: each a big-endian uint16 length and the message
)

// stateV2 is the first byte of a push/pull state: a JSON wireState follows.
// (Version 1 carried records; records now travel per network, see sync.go.)
const stateV2 byte = 2

// maxIDLen bounds endpoint and node IDs read off the wire.
const maxIDLen = 255

// wireRecord is Record as JSON on the wire, with short keys.
type wireRecord struct {
	ID      string         `json:"id"`
	Net     string         `json:"net,omitempty"`
	VNI     uint32         `json:"vni,omitempty"`
	IP      netip.Addr     `json:"ip,omitzero"`
	MAC     string         `json:"mac,omitempty"`
	VTEP    netip.AddrPort `json:"vtep,omitzero"`
	Node    string         `json:"node"`
	Name    string         `json:"name,omitempty"`
	Aliases []string       `json:"aliases,omitempty"`
	Boot    uint64         `json:"boot,omitempty"`
	KeyGen  uint64         `json:"kg,omitempty"`
	Ver     uint64         `json:"ver"`
	Del     bool           `json:"del,omitempty"`
	Sig     []byte         `json:"sig,omitempty"`
}

// wireState is the push/pull payload: who has which network.
type wireState struct {
	Interests []wireInterest `json:"interests"`
}

// wireInterest is an interest on the wire.
type wireInterest struct {
	Node string `json:"node"`
	Net  string `json:"net"`
	Life uint64 `json:"life"`
	Ver  uint64 `json:"ver"`
	Left bool   `json:"left,omitempty"`
	Sig  []byte `json:"sig,omitempty"`
}

// wireSync is a syncMsg on the wire.
type wireSync struct {
	From    string       `json:"from"`
	Net     string       `json:"net,omitempty"`
	Reply   bool         `json:"reply,omitempty"`
	Records []wireRecord `json:"records"`
}

// leaveNotice says a node is leaving on purpose, so that others report it
// as left rather than dead and hide its records at once.
type leaveNotice struct {
	Node string `json:"node"`
	Life uint64 `json:"life"` // the leaving agent's life, see wireMeta
	Sig  []byte `json:"sig,omitempty"`
}

func toWire(r Record) wireRecord {
	w := wireRecord{
		ID: r.EndpointID, Net: r.Network, VNI: r.VNI, IP: r.IP, VTEP: r.VTEP,
		Node: r.Node, Name: r.Name, Aliases: r.Aliases, Boot: r.Boot, KeyGen: r.KeyGen, Ver: r.Version, Del: r.Deleted, Sig: r.Sig,
	}
	if r.MAC != (fdb.MAC{}) {
		w.MAC = r.MAC.String()
	}
	return w
}

var errBadRecord = errors.New("want non-empty id and node of at most 255 bytes and a non-zero version")

func fromWire(w wireRecord) (Record, error) {
	if w.ID == "" || w.Node == "" || len(w.ID) > maxIDLen || len(w.Node) > maxIDLen || w.Ver == 0 {
		return Record{}, fmt.Errorf("record %q from %q: %w", w.ID, w.Node, errBadRecord)
	}
	r := Record{
		EndpointID: w.ID, Network: w.Net, VNI: w.VNI, IP: w.IP, VTEP: w.VTEP,
		Node: w.Node, Name: w.Name, Aliases: w.Aliases, Boot: w.Boot, KeyGen: w.KeyGen, Version: w.Ver, Deleted: w.Del, Sig: w.Sig,
	}
	if w.MAC != "" {
		mac, err := fdb.ParseMAC(w.MAC)
		if err != nil {
			return Record{}, fmt.Errorf("record %q: %w", w.ID, err)
		}
		r.MAC = mac
	}
	return r, nil
}

// encodeRecord returns the broadcast message for r.
func encodeRecord(r Record) []byte {
	return encode(msgRecord, toWire(r))
}

// encodeLeave returns the broadcast message of a leave notice.
func encodeLeave(l leaveNotice) []byte {
	return encode(msgLeave, l)
}

// encodeInterest returns the broadcast message for one interest.
func encodeInterest(in interest) []byte {
	return encode(msgInterest, toWireInterest(in))
}

// encodeState returns the push/pull payload for the given interests.
func encodeState(ins []interest) []byte {
	s := wireState{Interests: make([]wireInterest, len(ins))}
	for i, in := range ins {
		s.Interests[i] = toWireInterest(in)
	}
	return encode(stateV2, s)
}

// encodeSync returns the message for a sync.
func encodeSync(m syncMsg) []byte {
	w := wireSync{From: m.From, Net: m.Network, Reply: m.Reply, Records: make([]wireRecord, len(m.Records))}
	for i, r := range m.Records {
		w.Records[i] = toWire(r)
	}
	return encode(msgSync, w)
}

// encodeBatch packs messages into one; each must be shorter than 64 KiB
// and must not be a batch itself.
func encodeBatch(msgs [][]byte) []byte {
	n := 1
	for _, m := range msgs {
		n += 2 + len(m)
	}
	b := make([]byte, 1, n)
	b[0] = msgBatch
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// splitBatch returns the messages of a batch, which alias b.
func splitBatch(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[0] != msgBatch {
		return nil, errors.New("split batch: not a batch")
	}
	var out [][]byte
	for rest := b[1:]; len(rest) > 0; {
		if len(rest) < 2 {
			return nil, errors.New("split batch: truncated length")
		}
		n := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if n == 0 || n > len(rest) {
			return nil, fmt.Errorf("split batch: message of %d bytes with %d left", n, len(rest))
		}
		if rest[0] == msgBatch {
			return nil, errors.New("split batch: nested batch")
		}
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out, nil
}

func toWireInterest(in interest) wireInterest {
	return wireInterest{Node: in.Node, Net: in.Network, Life: in.Life, Ver: in.Version, Left: in.Left, Sig: in.Sig}
}

var errBadInterest = errors.New("want non-empty node and network of at most 255 bytes and a non-zero version")

func fromWireInterest(w wireInterest) (interest, error) {
	if w.Node == "" || w.Net == "" || len(w.Node) > maxIDLen || len(w.Net) > maxIDLen || w.Ver == 0 {
		return interest{}, fmt.Errorf("interest of %q in %q: %w", w.Node, w.Net, errBadInterest)
	}
	return interest{Node: w.Node, Network: w.Net, Life: w.Life, Version: w.Ver, Left: w.Left, Sig: w.Sig}, nil
}

func encode(kind byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gossip: encode %T: %v", v, err)) // only plain fields: cannot happen
	}
	return append([]byte{kind}, b...)
}

// message is a decoded message: exactly one of the fields is set.
type message struct {
	record   *Record
	leave    *leaveNotice
	interest *interest
	sync     *syncMsg
}

// decodeMessage parses one message; a batch is split by splitBatch first.
func decodeMessage(b []byte) (message, error) {
	if len(b) == 0 {
		return message{}, errors.New("decode message: empty")
	}
	var m message
	var err error
	switch b[0] {
	case msgRecord:
		m.record, err = decodeAs(b[1:], "record", fromWire)
	case msgLeave:
		m.leave, err = decodeAs(b[1:], "leave", checkLeave)
	case msgInterest:
		m.interest, err = decodeAs(b[1:], "interest", fromWireInterest)
	case msgSync:
		m.sync, err = decodeAs(b[1:], "sync", fromWireSync)
	default:
		err = fmt.Errorf("decode message: unknown type %d", b[0])
	}
	if err != nil {
		return message{}, err
	}
	return m, nil
}

// decodeAs parses a message's JSON as W and checks and converts it.
func decodeAs[W, T any](b []byte, what string, conv func(W) (T, error)) (*T, error) {
	var w W
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode %s message: %w", what, err)
	}
	v, err := conv(w)
	if err != nil {
		return nil, fmt.Errorf("decode %s message: %w", what, err)
	}
	return &v, nil
}

func checkLeave(l leaveNotice) (leaveNotice, error) {
	if l.Node == "" || len(l.Node) > maxIDLen {
		return leaveNotice{}, fmt.Errorf("bad node %q", l.Node)
	}
	return l, nil
}

// fromWireSync checks a sync message. Records that fail validation are
// skipped and counted in Bad, so one bad record does not cost the rest.
func fromWireSync(w wireSync) (syncMsg, error) {
	if w.From == "" || len(w.From) > maxIDLen || len(w.Net) > maxIDLen {
		return syncMsg{}, fmt.Errorf("bad sender %q or network %q", w.From, w.Net)
	}
	m := syncMsg{From: w.From, Network: w.Net, Reply: w.Reply, Records: make([]Record, 0, len(w.Records))}
	for _, wr := range w.Records {
		r, err := fromWire(wr)
		if err != nil {
			m.Bad++
			continue
		}
		m.Records = append(m.Records, r)
	}
	return m, nil
}

// decodeState parses a push/pull payload. Interests that fail validation
// are skipped and counted in bad.
func decodeState(b []byte) (ins []interest, bad int, err error) {
	if len(b) == 0 {
		return nil, 0, nil
	}
	if b[0] != stateV2 {
		return nil, 0, fmt.Errorf("decode state: unknown version %d", b[0])
	}
	var s wireState
	if err := json.Unmarshal(b[1:], &s); err != nil {
		return nil, 0, fmt.Errorf("decode state: %w", err)
	}
	ins = make([]interest, 0, len(s.Interests))
	for _, w := range s.Interests {
		in, err := fromWireInterest(w)
		if err != nil {
			bad++
			continue
		}
		ins = append(ins, in)
	}
	return ins, bad, nil
}
