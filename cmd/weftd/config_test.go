package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file into a fresh directory and returns its
// path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weftd.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The defaults, then the file, then the flags: each overrides the one
// before, key by key.
func TestConfigPrecedence(t *testing.T) {
	file := "queues: 3\nlog-level: debug\ndns: [198.18.0.53, '198.18.0.54:5353']\nmetrics-addr:\ndata-key-rotation: 1h\n"
	tests := []struct {
		name  string
		file  string
		flags []string
		check func(*options) string
	}{
		{"defaults", "", nil, func(o *options) string {
			return diff("queues", o.cfg.Queues, 1) + diff("log-level", o.logLevel, "info") + diff("metrics-addr", o.cfg.MetricsAddr, "127.0.0.1:9723")
		}},
		{"file", file, nil, func(o *options) string {
			return diff("queues", o.cfg.Queues, 3) + diff("log-level", o.logLevel, "debug") +
				diff("dns", o.cfg.DNS.Upstreams, []netip.AddrPort{netip.MustParseAddrPort("198.18.0.53:53"), netip.MustParseAddrPort("198.18.0.54:5353")}) +
				diff("metrics-addr", o.cfg.MetricsAddr, "") + diff("data-key-rotation", o.cfg.DataKeyRotation, time.Hour) +
				diff("state-dir", o.cfg.StateDir, "/var/lib/weft")
		}},
		{"flags over file", file, []string{"--queues", "2", "--dns", "198.18.0.99", "--metrics-addr", "127.0.0.1:1"}, func(o *options) string {
			return diff("queues", o.cfg.Queues, 2) + diff("log-level", o.logLevel, "debug") +
				diff("dns", o.cfg.DNS.Upstreams, []netip.AddrPort{netip.MustParseAddrPort("198.18.0.99:53")}) +
				diff("metrics-addr", o.cfg.MetricsAddr, "127.0.0.1:1")
		}},
		{"comments only", "# nothing set\n", []string{"--data-path-addr", "198.18.0.1"}, func(o *options) string {
			return diff("queues", o.cfg.Queues, 1) + diff("data-path-addr", o.cfg.DataPathAddr, netip.MustParseAddr("198.18.0.1"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.file)
			o, err := load(append([]string{"--config", path}, tc.flags...))
			if err != nil {
				t.Fatal(err)
			}
			if d := tc.check(o); d != "" {
				t.Error(d)
			}
		})
	}
}

// diff says how got differs from want, or "" if it does not.
func diff(key string, got, want any) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("%s: got %v; want %v\n", key, got, want)
}

// A missing file is fine at the default path, an error when named; an
// empty --config reads nothing.
func TestConfigMissingFile(t *testing.T) {
	dir := t.TempDir()
	defer func(p string) { defaultConfigPath = p }(defaultConfigPath)
	defaultConfigPath = filepath.Join(dir, "absent.yaml")
	if _, err := load(nil); err != nil {
		t.Errorf("default path missing: %v; want no error", err)
	}
	if _, err := load([]string{"--config", ""}); err != nil {
		t.Errorf("--config '': %v; want no error", err)
	}
	_, err := load([]string{"--config", defaultConfigPath})
	if err == nil || !strings.Contains(err.Error(), defaultConfigPath) {
		t.Errorf("--config naming a missing file: %v; want an error naming it", err)
	}
	// The default path is read when it exists.
	if err := os.WriteFile(defaultConfigPath, []byte("queues: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := load(nil); err != nil || o.cfg.Queues != 4 {
		t.Errorf("default path present: %v, queues %d; want 4", err, queuesOf(o))
	}
}

func queuesOf(o *options) int {
	if o == nil {
		return 0
	}
	return o.cfg.Queues
}

// Every error names the key, and the file and line, or the flag.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		flags []string
		want  []string // substrings of the error; FILE stands for the path
	}{
		{"unknown key", "queues: 2\nlog-lvl: debug\n", nil, []string{"FILE:2:", `unknown key "log-lvl"`}},
		{"meta flag as key", "config: /etc/other.yaml\n", nil, []string{"FILE:1:", `unknown key "config"`}},
		{"not a number", "\nqueues: many\n", nil, []string{"FILE:2:", `invalid queues "many": want a whole number`}},
		{"out of range", "queues: 30\n", nil, []string{"FILE:1:", "invalid queues 30: want 1 to 16"}},
		{"bad choice", "tap-driver: fast\n", nil, []string{"FILE:1:", `invalid tap-driver "fast": want linux or water`}},
		{"bad duration", "data-key-rotation: daily\n", nil, []string{"FILE:1:", "invalid data-key-rotation", "want a duration"}},
		{"rotation too short", "gossip-key-rotation: 1s\n", nil, []string{"FILE:1:", "invalid gossip-key-rotation 1s: want 0 (never) or at least"}},
		{"bad bool", "pprof: yes please\n", nil, []string{"FILE:1:", `invalid pprof "yes please": want true or false`}},
		{"bad address", "data-path-addr: 198.18.0\n", nil, []string{"FILE:1:", `invalid data-path-addr "198.18.0"`}},
		{"bad dns", "dns: [198.18.0.53, resolver]\n", nil, []string{"FILE:1:", `invalid dns "resolver"`}},
		{"too many dns", "dns: [198.18.0.1, 198.18.0.2, 198.18.0.3, 198.18.0.4]\n", nil, []string{"FILE:1:", "invalid dns", "at most 3"}},
		{"bad log level", "log-level: loud\n", nil, []string{"FILE:1:", `invalid log-level "loud"`}},
		{"list for a single value", "queues: [1, 2]\n", nil, []string{"FILE:1:", "invalid queues: want a single value"}},
		{"mapping value", "state-dir: {path: /x}\n", nil, []string{"FILE:1:", "invalid state-dir: want a single value"}},
		{"key twice", "queues: 2\nqueues: 3\n", nil, []string{"FILE:2:", "key queues given twice (first at FILE:1)"}},
		{"not a mapping", "- queues\n", nil, []string{"FILE:1:", "want a mapping"}},
		{"not YAML", "queues: [2\n", nil, []string{"config file FILE:"}},
		{"bad flag over a good file", "queues: 2\n", []string{"--queues", "0"}, []string{"invalid --queues 0: want 1 to 16"}},
		{"bad flag value", "", []string{"--data-path-port", "70000"}, []string{"invalid --data-path-port 70000: want 1 to 65535"}},
		{"stray argument", "", []string{"extra"}, []string{`unexpected argument "extra"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.file)
			_, err := loadQuiet(append([]string{"--config", path}, tc.flags...))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

// loadQuiet is load with the flag package's own complaints kept off the
// test's output.
func loadQuiet(args []string) (*options, error) {
	stderr := os.Stderr
	defer func() { os.Stderr = stderr }()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	os.Stderr = null
	return load(args)
}

// --print-config's output loads back to the same settings, and prints the
// same again; it has every key.
func TestPrintConfigRoundTrip(t *testing.T) {
	path := writeConfig(t, "queues: 3\ndns: [198.18.0.53]\nmetrics-addr: ''\ngossip-probe-interval: 1500ms\npprof: true\n")
	o, err := load([]string{"--config", path, "--log-format", "json", "--data-path-addr", "198.18.0.7"})
	if err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	if err := run([]string{"--config", path, "--log-format", "json", "--data-path-addr", "198.18.0.7", "--print-config"}, &first, os.Stderr); err != nil {
		t.Fatal(err)
	}
	again, err := load([]string{"--config", writeConfig(t, first.String())})
	if err != nil {
		t.Fatalf("loading --print-config's output: %v\n%s", err, first.String())
	}
	if !reflect.DeepEqual(again.cfg, o.cfg) || again.logLevel != o.logLevel || again.logFormat != o.logFormat {
		t.Errorf("round trip changed the settings:\ngot  %+v\nwant %+v", again, o)
	}
	var second bytes.Buffer
	if err := again.render(&second); err != nil {
		t.Fatal(err)
	}
	if second.String() != first.String() {
		t.Errorf("printed again differently:\n%s\nfirst:\n%s", second.String(), first.String())
	}
	checkEveryKey(t, "--print-config", first.String())
}

// checkEveryKey fails unless text (a config file) sets every key.
func checkEveryKey(t *testing.T, what, text string) {
	t.Helper()
	newFlags(newOptions()).VisitAll(func(f *flag.Flag) {
		if metaFlags[f.Name] {
			return
		}
		if !strings.Contains("\n"+text, "\n"+f.Name+": ") {
			t.Errorf("%s has no key %s", what, f.Name)
		}
	})
}

// The shipped config file sets every key, to its default, and is exactly
// what --print-config prints for the defaults (so it cannot go stale).
func TestShippedConfig(t *testing.T) {
	shipped, err := os.ReadFile("../../dist/weftd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkEveryKey(t, "dist/weftd.yaml", string(shipped))
	o, err := load([]string{"--config", "../../dist/weftd.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	def, err := load([]string{"--config", ""})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.cfg, def.cfg) || o.logLevel != def.logLevel || o.logFormat != def.logFormat {
		t.Errorf("dist/weftd.yaml does not load to the defaults:\ngot  %+v\nwant %+v", o, def)
	}
	var want bytes.Buffer
	if err := def.render(&want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, want.Bytes()) {
		t.Errorf("dist/weftd.yaml is stale; regenerate it with\n  go run ./cmd/weftd --config '' --print-config > dist/weftd.yaml\nwant:\n%s", want.String())
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {12 * time.Hour, "12h"}, {90 * time.Minute, "1h30m"}, {time.Hour + time.Second, "1h0m1s"},
		{time.Minute, "1m"}, {90 * time.Second, "1m30s"}, {300 * time.Millisecond, "300ms"}, {1500 * time.Millisecond, "1.5s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %q; want %q", tc.d, got, tc.want)
		}
		if back, err := time.ParseDuration(tc.want); err != nil || back != tc.d {
			t.Errorf("%q parses to %v, %v; want %v", tc.want, back, err, tc.d)
		}
	}
}
