package daemon

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
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
	s.Networks["cnet"] = &netState{
		ID: "def", Name: "cnet", VNI: 4097, MTU: 1450, Cluster: true,
		Subnet:  netip.MustParsePrefix("198.19.2.0/24"),
		Created: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		Endpoints: map[string]*endpoint{"e2": {
			ID: "e2", Name: "c2", Netns: "/run/netns/c2", NetnsID: "NS(4:2)", Aliases: []string{"web"},
			IP: netip.MustParseAddr("198.19.2.2"), MAC: "02:00:00:00:00:02", IfName: "eth0", HostIf: "wve2",
		}},
	}
	return s
}

// testLog returns a logger that writes into a buffer the test can read.
func testLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

// savedSample saves sampleState in a fresh directory and returns the state
// file's path and bytes.
func savedSample(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := sampleState().save(path); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, good
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path, _ := savedSample(t)
	log, _ := testLog()
	got, err := loadState(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleState(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v; want %+v", got.Networks, want.Networks)
	}
}

func TestStateMissingIsEmpty(t *testing.T) {
	log, _ := testLog()
	s, err := loadState(filepath.Join(t.TempDir(), "none.json"), log)
	if err != nil || len(s.Networks) != 0 {
		t.Fatalf("got %v, %v; want an empty state", s, err)
	}
}

// save keeps a backup identical to the state file.
func TestStateSaveKeepsBackup(t *testing.T) {
	path, good := savedSample(t)
	bak, err := os.ReadFile(backupPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bak, good) {
		t.Fatalf("backup differs from the state file:\n%s\nwant\n%s", bak, good)
	}
}

// damages are the ways a crash, a disk or a person can spoil a state file.
func damages(good []byte) map[string][]byte {
	flipped := bytes.Clone(good)
	flipped[len(flipped)*2/3] ^= 0x04
	return map[string][]byte{
		"truncated":   good[:len(good)/2],
		"last byte":   good[:len(good)-1],
		"flipped bit": flipped,
		"empty":       {},
		"garbage":     []byte("\x00\x17not json at all\xff"),
		"zeroes":      make([]byte, len(good)),
		"altered":     []byte(strings.Replace(string(good), "198.19.1.2", "198.19.1.3", 1)),
		"no version":  []byte(strings.Replace(string(good), `"version":1`, `"version":0`, 1)),
	}
}

// A damaged state file is recovered from its backup, with a warning that
// names it; the damaged file is kept aside and a good one written back.
func TestStateDamageRecoveredFromBackup(t *testing.T) {
	_, good := savedSample(t)
	for name, body := range damages(good) {
		t.Run(name, func(t *testing.T) {
			path, _ := savedSample(t)
			writeFile(t, path, body)
			log, logged := testLog()
			got, err := loadState(path, log)
			if err != nil {
				t.Fatalf("got %v; want the state recovered from %s", err, backupPath(path))
			}
			if want := sampleState(); !reflect.DeepEqual(got, want) {
				t.Fatalf("recovered %+v; want %+v", got.Networks, want.Networks)
			}
			if out := logged.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) {
				t.Errorf("log %q; want a warning naming %s", out, path)
			}
			if kept, err := os.ReadFile(corruptPath(path)); err != nil || !bytes.Equal(kept, body) {
				t.Errorf("damaged copy: %v; want it kept as %s", err, corruptPath(path))
			}
			if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, good) {
				t.Errorf("state file after recovery: %v; want the good state written back", err)
			}
		})
	}
}

// A damaged state file without a usable backup is refused with an error
// that names the file and what is wrong with it: never trusted, never
// replaced by an empty state.
func TestStateDamageWithoutBackupRefused(t *testing.T) {
	_, good := savedSample(t)
	for name, body := range damages(good) {
		for _, backup := range []string{"no backup", "damaged backup"} {
			t.Run(name+"/"+backup, func(t *testing.T) {
				path, _ := savedSample(t)
				writeFile(t, path, body)
				if backup == "no backup" {
					if err := os.Remove(backupPath(path)); err != nil {
						t.Fatal(err)
					}
				} else {
					writeFile(t, backupPath(path), good[:len(good)-3])
				}
				log, _ := testLog()
				s, err := loadState(path, log)
				if err == nil {
					t.Fatalf("got a state with %d networks; want it refused", len(s.Networks))
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
					t.Fatalf("got %q; want the error to name %s and say it is corrupt", err, path)
				}
				if now, _ := os.ReadFile(path); !bytes.Equal(now, body) {
					t.Error("the refused state file was changed; want it left for the operator")
				}
			})
		}
	}
}

// A state file from a newer weftd is refused, not replaced by its backup.
func TestStateNewerVersionRefused(t *testing.T) {
	path, good := savedSample(t)
	writeFile(t, path, []byte(strings.Replace(string(good), `"version":1`, `"version":99`, 1)))
	log, _ := testLog()
	if _, err := loadState(path, log); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("got %v; want an error naming %s and its version", err, path)
	}
}

// Only the backup left (the state file was deleted): it is used, with a
// warning.
func TestStateMissingFileRecoveredFromBackup(t *testing.T) {
	path, _ := savedSample(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	log, logged := testLog()
	got, err := loadState(path, log)
	if err != nil || !reflect.DeepEqual(got, sampleState()) {
		t.Fatalf("got %v, %v; want the state from the backup", got, err)
	}
	if !strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("log %q; want a warning", logged)
	}
}

// Every single-bit flip and every truncation of a state file ends in an
// error or in the very state that was saved: never in another one. With a
// backup (tried on a sample, as recovering writes and syncs files), it ends
// in the saved state, unless the flip made the file claim a newer version,
// which is refused.
func TestStateNeverSilentlyWrong(t *testing.T) {
	path, good := savedSample(t)
	bak, _ := os.ReadFile(backupPath(path))
	want := sampleState()
	log := slog.New(slog.DiscardHandler)
	try := func(body []byte, withBackup bool) (*state, error) {
		writeFile(t, path, body)
		if withBackup {
			writeFile(t, backupPath(path), bak)
		} else {
			_ = os.Remove(backupPath(path))
		}
		return loadState(path, log)
	}
	var bodies [][]byte
	for i := range good {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			bodies = append(bodies, b)
		}
	}
	for n := range len(good) {
		bodies = append(bodies, good[:n])
	}
	refused := 0
	for i, b := range bodies {
		s, err := try(b, false)
		switch {
		case err == nil && !reflect.DeepEqual(s, want):
			t.Fatalf("damaged file %q loaded as %+v; want an error or the saved state", b, s.Networks)
		case err != nil:
			refused++
		}
		if i%13 != 0 {
			continue
		}
		s, err = try(b, true)
		switch {
		case err != nil && !strings.Contains(err.Error(), "this weftd reads up to"):
			t.Fatalf("damaged file %q with a good backup: %v; want the saved state", b, err)
		case err == nil && !reflect.DeepEqual(s, want):
			t.Fatalf("damaged file %q with a good backup loaded as %+v; want the saved state", b, s.Networks)
		}
	}
	t.Logf("%d damaged files, %d refused without a backup (the rest read as the saved state)", len(bodies), refused)
}

// A state with a good checksum that weftd could not have written (two
// endpoints with one address, a network under another name) is refused.
func TestStateInconsistentRefused(t *testing.T) {
	tests := map[string]func(s *state){
		"duplicate address": func(s *state) {
			n := s.Networks["net1"]
			n.Endpoints["e3"] = &endpoint{ID: "e3", IP: n.Endpoints["e1"].IP, HostIf: "wve3"}
		},
		"address outside the subnet": func(s *state) {
			s.Networks["net1"].Endpoints["e1"].IP = netip.MustParseAddr("198.19.9.9")
		},
		"filed under another name": func(s *state) { s.Networks["other"] = s.Networks["net1"] },
		"duplicate VNI":            func(s *state) { s.Networks["cnet"].VNI = 42 },
		"endpoint under another ID": func(s *state) {
			s.Networks["net1"].Endpoints["x"] = s.Networks["net1"].Endpoints["e1"]
		},
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			s := sampleState()
			spoil(s)
			if err := s.save(path); err != nil {
				t.Fatal(err)
			}
			log, _ := testLog()
			if _, err := loadState(path, log); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v; want the state refused with an error naming %s", err, path)
			}
		})
	}
}

// save writes the backup first: when it cannot, the state file is left as
// it was, so that the caller's undo of its change matches the disk.
func TestStateSaveBackupFailureLeavesFile(t *testing.T) {
	path, good := savedSample(t)
	if err := os.Remove(backupPath(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(backupPath(path), 0o700); err != nil { // a rename over it fails
		t.Fatal(err)
	}
	s := sampleState()
	delete(s.Networks, "net1")
	if err := s.save(path); err == nil {
		t.Fatal("save succeeded; want the backup's failure reported")
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Fatal("state file changed although save failed")
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
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"state.json", "state.json.bak"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("got %v in the state directory; want %v", names, want)
	}
}

// Temporary files a crash left behind are removed on load.
func TestLoadRemovesLeftTempFiles(t *testing.T) {
	path, _ := savedSample(t)
	left := filepath.Join(filepath.Dir(path), ".state-12345")
	writeFile(t, left, []byte("half"))
	log, _ := testLog()
	if _, err := loadState(path, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: %v; want it removed", left, err)
	}
}
