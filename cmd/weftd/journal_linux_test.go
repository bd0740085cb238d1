package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Under journald (JOURNAL_STREAM names the log's file), every line starts
// with its syslog priority and carries no time; elsewhere lines are plain
// slog with a time. The level follows the LevelVar.
func TestLoggerJournal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		journal bool
		want    []string // one per line written below
	}{
		{"text", "text", false, []string{"time=", "level=INFO msg=up", "level=WARN msg=slow peer=198.18.0.2", "level=ERROR msg=down err=gone"}},
		{"journal text", "text", true, []string{"<6>level=INFO msg=up", "<4>level=WARN msg=slow peer=198.18.0.2", "<3>level=ERROR msg=down err=gone", "<7>level=DEBUG msg=detail"}},
		{"journal json", "json", true, []string{`<6>{"level":"INFO","msg":"up"}`, `<4>{"level":"WARN","msg":"slow","peer":"198.18.0.2"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			t.Setenv("JOURNAL_STREAM", "")
			if tc.journal {
				var st syscall.Stat_t
				if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
					t.Fatal(err)
				}
				t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
			}
			var level slog.LevelVar
			log := newLogger(&level, tc.format, f)
			log.Debug("hidden")
			log.Info("up")
			log.With("peer", "198.18.0.2").Warn("slow")
			log.Error("down", "err", "gone")
			level.Set(slog.LevelDebug)
			log.Debug("detail")
			b, _ := os.ReadFile(path)
			out := string(b)
			if strings.Contains(out, "hidden") {
				t.Errorf("debug line logged at level info:\n%s", out)
			}
			if timed := strings.Contains(out, "time"); timed == tc.journal {
				t.Errorf("journal %v: time in the log = %v; want %v:\n%s", tc.journal, timed, !tc.journal, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("log\n%s\nwant it to contain %s", out, w)
				}
			}
			if lines := strings.Count(out, "\n"); lines != 4 {
				t.Errorf("%d lines; want 4:\n%s", lines, out)
			}
		})
	}
}
