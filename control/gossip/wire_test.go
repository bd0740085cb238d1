package gossip

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/weftnet/weft/control/pki"
)

func TestRecordRoundTrip(t *testing.T) {
	full := testRecord("n1", "e1", 7)
	full.Node, full.Version = "a", 42
	tests := []struct {
		name string
		r    Record
	}{
		{"full record", full},
		{"tombstone", full.tombstone(43)},
		{"no MAC, IP or aliases", Record{EndpointID: "e2", Network: "n1", Node: "a", Version: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeMessage(encodeRecord(tt.r))
			if err != nil {
				t.Fatal(err)
			}
			if m.record == nil || !recordsEqual(*m.record, tt.r) {
				t.Errorf("got %+v; want %+v", m.record, tt.r)
			}
		})
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{9, '{', '}'}},
		{"bad JSON", append([]byte{msgRecord}, "{"...)},
		{"no endpoint ID", append([]byte{msgRecord}, `{"node":"a","ver":1}`...)},
		{"no node", append([]byte{msgRecord}, `{"id":"e","ver":1}`...)},
		{"version zero", append([]byte{msgRecord}, `{"id":"e","node":"a"}`...)},
		{"bad MAC", append([]byte{msgRecord}, `{"id":"e","node":"a","ver":1,"mac":"zz"}`...)},
		{"bad IP", append([]byte{msgRecord}, `{"id":"e","node":"a","ver":1,"ip":"300.1.1.1"}`...)},
		{"leave without node", append([]byte{msgLeave}, `{"life":1}`...)},
		{"interest without network", append([]byte{msgInterest}, `{"node":"a","ver":1}`...)},
		{"interest version zero", append([]byte{msgInterest}, `{"node":"a","net":"n1"}`...)},
		{"sync without sender", append([]byte{msgSync}, `{"net":"n1","records":[]}`...)},
		{"batch is not one message", encodeBatch([][]byte{encodeLeave(leaveNotice{Node: "a", Life: 1})})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decodeMessage(tt.b); err == nil {
				t.Errorf("decodeMessage(%q) = %+v, nil; want an error", tt.b, m)
			}
		})
	}
}

func TestSyncSkipsBadRecords(t *testing.T) {
	good := testRecord("n1", "e1", 1)
	good.Node, good.Version = "a", 1
	m, err := decodeMessage(encodeSync(syncMsg{From: "a", Network: "n1", Records: []Record{good, {EndpointID: "", Node: "a", Version: 1}}}))
	if err != nil {
		t.Fatal(err)
	}
	s := m.sync
	if s == nil || s.From != "a" || s.Network != "n1" || s.Reply || len(s.Records) != 1 || s.Bad != 1 || !recordsEqual(s.Records[0], good) {
		t.Errorf("got %+v; want from a, network n1, 1 good record, 1 bad", s)
	}
}

func TestStateSkipsBadInterests(t *testing.T) {
	good := interest{Node: "a", Network: "n1", Life: 7, Version: 3, Left: true, Sig: []byte{1, 2}}
	ins, bad, err := decodeState(encodeState([]interest{good, {Node: "a", Version: 1}, {Node: "a", Network: "n1"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || bad != 2 || !reflect.DeepEqual(ins[0], good) {
		t.Errorf("got %+v, %d bad; want [%+v], 2 bad", ins, bad, good)
	}
}

func TestBatch(t *testing.T) {
	msgs := [][]byte{encodeLeave(leaveNotice{Node: "a", Life: 1}), encodeInterest(interest{Node: "a", Network: "n1", Life: 1, Version: 2})}
	got, err := splitBatch(encodeBatch(msgs))
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], msgs[0]) || !bytes.Equal(got[1], msgs[1]) {
		t.Errorf("splitBatch(encodeBatch(msgs)) = %q, %v; want %q", got, err, msgs)
	}
	for _, b := range [][]byte{
		nil,
		{msgRecord},
		{msgBatch, 0},
		{msgBatch, 0, 0},
		{msgBatch, 0, 5, msgLeave},
		encodeBatch([][]byte{encodeBatch(msgs)}),
	} {
		if got, err := splitBatch(b); err == nil {
			t.Errorf("splitBatch(%q) = %q, nil; want an error", b, got)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := NodeMeta{Role: pki.RoleManager, Hostname: "h1"}
	b, err := encodeMeta(m, 99)
	if err != nil {
		t.Fatal(err)
	}
	got, life, err := decodeMeta(b)
	if err != nil || got != m || life != 99 {
		t.Errorf("got %+v, %d, %v; want %+v, 99, nil", got, life, err, m)
	}
	if _, err := encodeMeta(NodeMeta{Hostname: string(bytes.Repeat([]byte("x"), 600))}, 1); err == nil {
		t.Errorf("encodeMeta of 600-byte hostname: got nil error; want too large")
	}
}

// FuzzDecodeMessage checks that any message, batched or not, parses without
// panicking, and that records that parse survive a round trip.
func FuzzDecodeMessage(f *testing.F) {
	r := testRecord("n1", "e1", 1)
	r.Node, r.Version = "a", 1
	f.Add(encodeRecord(r))
	f.Add(encodeRecord(r.tombstone(2)))
	f.Add(encodeLeave(leaveNotice{Node: "a", Life: 5}))
	f.Add(encodeInterest(interest{Node: "a", Network: "n1", Life: 1, Version: 2}))
	f.Add(encodeSync(syncMsg{From: "a", Network: "n1", Records: []Record{r, r.tombstone(3)}}))
	f.Add(encodeBatch([][]byte{encodeRecord(r), encodeLeave(leaveNotice{Node: "a", Life: 5})}))
	f.Add([]byte{msgRecord, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs := [][]byte{b}
		if len(b) > 0 && b[0] == msgBatch {
			var err error
			if msgs, err = splitBatch(b); err != nil {
				return
			}
		}
		for _, b := range msgs {
			m, err := decodeMessage(b)
			if err != nil {
				continue
			}
			var recs []Record
			if m.record != nil {
				recs = append(recs, *m.record)
			}
			if m.sync != nil {
				recs = append(recs, m.sync.Records...)
			}
			for _, r := range recs {
				again, err := decodeMessage(encodeRecord(r))
				if err != nil {
					t.Fatalf("re-decode: %v", err)
				}
				if !recordsEqual(*again.record, r) {
					t.Fatalf("round trip: got %+v; want %+v", *again.record, r)
				}
			}
		}
	})
}

// FuzzDecodeState checks that any push/pull state parses without panicking
// and lets through only valid interests.
func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState([]interest{{Node: "a", Network: "n1", Life: 1, Version: 2}, {Node: "b", Network: "n2", Version: 3, Left: true}}))
	f.Add([]byte{stateV2})
	f.Fuzz(func(t *testing.T, b []byte) {
		ins, _, err := decodeState(b)
		if err != nil {
			return
		}
		for _, in := range ins {
			if in.Node == "" || in.Network == "" || in.Version == 0 {
				t.Fatalf("decodeState let through %+v", in)
			}
		}
	})
}
