package gossip

import (
	"bytes"
	"testing"
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decodeMessage(tt.b); err == nil {
				t.Errorf("decodeMessage(%q) = %+v, nil; want an error", tt.b, m)
			}
		})
	}
}

func TestStateSkipsBadRecords(t *testing.T) {
	good := testRecord("n1", "e1", 1)
	good.Node, good.Version = "a", 1
	b := encodeState([]Record{good, {EndpointID: "", Node: "a", Version: 1}})
	recs, bad, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || bad != 1 || !recordsEqual(recs[0], good) {
		t.Errorf("got %d records, %d bad; want 1 good, 1 bad", len(recs), bad)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := NodeMeta{Role: "manager", Hostname: "h1"}
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

// FuzzDecodeMessage checks that any broadcast parses without panicking and
// that a record that parses survives a round trip.
func FuzzDecodeMessage(f *testing.F) {
	r := testRecord("n1", "e1", 1)
	r.Node, r.Version = "a", 1
	f.Add(encodeRecord(r))
	f.Add(encodeRecord(r.tombstone(2)))
	f.Add(encodeLeave("a", 5))
	f.Add([]byte{msgRecord, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil || m.record == nil {
			return
		}
		again, err := decodeMessage(encodeRecord(*m.record))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !recordsEqual(*again.record, *m.record) {
			t.Fatalf("round trip: got %+v; want %+v", *again.record, *m.record)
		}
	})
}

// FuzzDecodeState checks that any push/pull state parses without panicking.
func FuzzDecodeState(f *testing.F) {
	r := testRecord("n1", "e1", 1)
	r.Node, r.Version = "a", 1
	f.Add(encodeState([]Record{r, r.tombstone(2)}))
	f.Add([]byte{stateV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _, err := decodeState(b)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.EndpointID == "" || r.Node == "" || r.Version == 0 {
				t.Fatalf("decodeState let through %+v", r)
			}
		}
	})
}
