package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A reload applies the file's log level at once; a file that does not load
// is logged and keeps the level in effect; a --log-level on the command line
// still wins over the file; other changes are reported as waiting for a
// restart.
func TestReload(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	path := writeConfig(t, "log-level: info\n")
	var logs bytes.Buffer
	start := func(args ...string) *service {
		o, err := load(args)
		if err != nil {
			t.Fatal(err)
		}
		return newService(o, args, &logs)
	}
	s := start("--config", path)
	steps := []struct {
		file    string
		want    slog.Level
		wantLog string
	}{
		{"log-level: debug\n", slog.LevelDebug, `msg="config reloaded"`},
		{"log-level: [debug\n", slog.LevelDebug, `level=ERROR msg="config not reloaded; the settings in effect stay"`},
		{"log-level: loud\n", slog.LevelDebug, `invalid log-level \"loud\"`},
		{"log-level: warn\nqueues: 2\n", slog.LevelWarn, `msg="config changes that take effect when weftd restarts" file=` + path + ` keys=[queues]`},
		{"log-level: info\n", slog.LevelInfo, `msg="config reloaded"`},
	}
	for _, st := range steps {
		if err := os.WriteFile(path, []byte(st.file), 0o644); err != nil {
			t.Fatal(err)
		}
		logs.Reset()
		s.reload()
		if got := s.level.Level(); got != st.want {
			t.Errorf("after reloading %q: level %v; want %v", st.file, got, st.want)
		}
		if !strings.Contains(logs.String(), st.wantLog) {
			t.Errorf("after reloading %q: log\n%s\nwant it to contain %s", st.file, logs.String(), st.wantLog)
		}
	}

	s = start("--config", path, "--log-level", "error")
	if err := os.WriteFile(path, []byte("log-level: debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.reload()
	if got := s.level.Level(); got != slog.LevelError {
		t.Errorf("reload with --log-level error on the command line: level %v; want ERROR", got)
	}
}

// A reload with nothing changed but the log level reports no other keys.
func TestChangedKeys(t *testing.T) {
	a, err := load([]string{"--config", writeConfig(t, "log-level: debug\nqueues: 2\n")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := load([]string{"--config", writeConfig(t, "log-level: warn\nqueues: 2\n")})
	if err != nil {
		t.Fatal(err)
	}
	if keys := changedKeys(a, b); len(keys) != 0 {
		t.Errorf("changedKeys = %v; want none", keys)
	}
	c, err := load([]string{"--config", writeConfig(t, "queues: 3\ndns: [198.18.0.53]\n")})
	if err != nil {
		t.Fatal(err)
	}
	if keys := strings.Join(changedKeys(a, c), " "); keys != "dns queues" {
		t.Errorf("changedKeys = %q; want \"dns queues\"", keys)
	}
}

// The unit runs weftd with the paths weftd defaults to: its config file,
// state directory (StateDirectory=) and API socket's directory
// (RuntimeDirectory=).
func TestUnitMatchesDefaults(t *testing.T) {
	unit, err := os.ReadFile("../../dist/weftd.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			set[k] = v
		}
	}
	def := newOptions()
	for _, c := range []struct{ key, got, want string }{
		{"ExecStart", set["ExecStart"], "/usr/local/bin/weftd --config " + defaultConfigPath},
		{"StateDirectory", "/var/lib/" + set["StateDirectory"], def.cfg.StateDir},
		{"RuntimeDirectory", "/run/" + set["RuntimeDirectory"], filepath.Dir(def.cfg.APISocket)},
		{"Type", set["Type"], "notify"},
	} {
		if c.got != c.want {
			t.Errorf("unit's %s gives %q; want %q", c.key, c.got, c.want)
		}
	}
}
