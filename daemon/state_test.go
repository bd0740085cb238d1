package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleState() *state {
	s := newState()
	s.Networks["net1"] = &netState{
		ID: "abc", Name: "net1", VNI: 42, MTU: 1450,
		Subnet:  netip.MustParsePrefix("198.19.1.0/24"),
		Gateway: netip.MustParseAddr("198.19.1.1"),
		Peers:   []netip.AddrPort{netip.MustParseAddrPort("198.18.0.2:4789")},
		Created: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		Endpoints: map[string]*endpoint{"e1": {
			ID: "e1", Name: "c1", Netns: "/run/netns/c1", NetnsID: "NS(4:1)",
			IP: netip.MustParseAddr("198.19.1.2"), MAC: "02:00:00:00:00:01", IfName: "eth0", HostIf: "wve1",
		}},
	}
	return s
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	want := sampleState()
	if err := want.save(path); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v; want %+v", got.Networks["net1"], want.Networks["net1"])
	}
}

func TestStateMissingIsEmpty(t *testing.T) {
	s, err := loadState(filepath.Join(t.TempDir(), "none.json"))
	if err != nil || len(s.Networks) != 0 {
		t.Fatalf("got %v, %v; want an empty state", s, err)
	}
}

// A state file cut short or altered is refused with a clear error, never
// trusted.
func TestStateCorruptionDetected(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := sampleState().save(path); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":     good[:len(good)/2],
		"empty":         {},
		"altered":       []byte(strings.Replace(string(good), "198.19.1.2", "198.19.1.3", 1)),
		"newer version": []byte(strings.Replace(string(good), `"version":1`, `"version":99`, 1)),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, body, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadState(path)
			if err == nil {
				t.Fatal("got no error; want the state refused")
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("got %q; want the error to name %s", err, path)
			}
		})
	}
}

func TestSaveLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		if err := sampleState().save(filepath.Join(dir, "state.json")); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("got %d files in the state directory; want 1", len(entries))
	}
}
