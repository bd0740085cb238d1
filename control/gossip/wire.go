package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/weftnet/weft/fdb"
)

// Message types: the first byte of every broadcast.
const (
	msgRecord byte = 1 // one Record, as JSON
	msgLeave  byte = 2 // a leaveNotice, as JSON
)

// stateV1 is the first byte of a push/pull state: a JSON wireState follows.
const stateV1 byte = 1

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
	Ver     uint64         `json:"ver"`
	Del     bool           `json:"del,omitempty"`
}

// wireState is the push/pull payload: every record worth sending.
type wireState struct {
	Records []wireRecord `json:"records"`
}

// leaveNotice says a node is leaving on purpose, so that others report it
// as left rather than dead and hide its records at once.
type leaveNotice struct {
	Node string `json:"node"`
	Life uint64 `json:"life"` // the leaving agent's life, see wireMeta
}

func toWire(r Record) wireRecord {
	w := wireRecord{
		ID: r.EndpointID, Net: r.Network, VNI: r.VNI, IP: r.IP, VTEP: r.VTEP,
		Node: r.Node, Name: r.Name, Aliases: r.Aliases, Ver: r.Version, Del: r.Deleted,
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
		Node: w.Node, Name: w.Name, Aliases: w.Aliases, Version: w.Ver, Deleted: w.Del,
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

// encodeLeave returns the broadcast message saying the given life of node
// is leaving.
func encodeLeave(node string, life uint64) []byte {
	return encode(msgLeave, leaveNotice{Node: node, Life: life})
}

// encodeState returns the push/pull payload for recs.
func encodeState(recs []Record) []byte {
	s := wireState{Records: make([]wireRecord, len(recs))}
	for i, r := range recs {
		s.Records[i] = toWire(r)
	}
	return encode(stateV1, s)
}

func encode(kind byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gossip: encode %T: %v", v, err)) // only plain fields: cannot happen
	}
	return append([]byte{kind}, b...)
}

// message is a decoded broadcast: exactly one of the fields is set.
type message struct {
	record *Record
	leave  *leaveNotice
}

// decodeMessage parses a broadcast.
func decodeMessage(b []byte) (message, error) {
	if len(b) == 0 {
		return message{}, errors.New("decode message: empty")
	}
	switch b[0] {
	case msgRecord:
		var w wireRecord
		if err := json.Unmarshal(b[1:], &w); err != nil {
			return message{}, fmt.Errorf("decode record message: %w", err)
		}
		r, err := fromWire(w)
		if err != nil {
			return message{}, fmt.Errorf("decode record message: %w", err)
		}
		return message{record: &r}, nil
	case msgLeave:
		var l leaveNotice
		if err := json.Unmarshal(b[1:], &l); err != nil {
			return message{}, fmt.Errorf("decode leave message: %w", err)
		}
		if l.Node == "" || len(l.Node) > maxIDLen {
			return message{}, fmt.Errorf("decode leave message: bad node %q", l.Node)
		}
		return message{leave: &l}, nil
	}
	return message{}, fmt.Errorf("decode message: unknown type %d", b[0])
}

// decodeState parses a push/pull payload. Records that fail validation are
// skipped and counted in bad, so one bad record does not cost the rest.
func decodeState(b []byte) (recs []Record, bad int, err error) {
	if len(b) == 0 {
		return nil, 0, nil
	}
	if b[0] != stateV1 {
		return nil, 0, fmt.Errorf("decode state: unknown version %d", b[0])
	}
	var s wireState
	if err := json.Unmarshal(b[1:], &s); err != nil {
		return nil, 0, fmt.Errorf("decode state: %w", err)
	}
	recs = make([]Record, 0, len(s.Records))
	for _, w := range s.Records {
		r, err := fromWire(w)
		if err != nil {
			bad++
			continue
		}
		recs = append(recs, r)
	}
	return recs, bad, nil
}
