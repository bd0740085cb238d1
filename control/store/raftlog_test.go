package store

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/weftnet/weft/internal/poll"
)

func TestParseHCLogLine(t *testing.T) {
	for _, tc := range []struct {
		line      string
		wantLevel slog.Level
		wantMsg   string
	}{
		{"2025-01-02T15:04:05.000Z [INFO]  raft: entering follower state: leader-id=", slog.LevelInfo, "raft: entering follower state: leader-id="},
		{"2025-01-02T15:04:05.000Z [WARN]  raft: heartbeat timeout reached", slog.LevelWarn, "raft: heartbeat timeout reached"},
		{"2025-01-02T15:04:05.000Z [ERROR] raft: failed to appendEntries", slog.LevelError, "raft: failed to appendEntries"},
		{"2025-01-02T15:04:05.000Z [DEBUG] raft: x", slog.LevelDebug, "raft: x"},
		{"2025-01-02T15:04:05.000Z [TRACE] raft: y", slog.LevelDebug, "raft: y"},
		{"no brackets here", slog.LevelInfo, "no brackets here"},
	} {
		level, msg := parseHCLogLine(tc.line)
		if level != tc.wantLevel || msg != tc.wantMsg {
			t.Errorf("parseHCLogLine(%q): got %v %q; want %v %q", tc.line, level, msg, tc.wantLevel, tc.wantMsg)
		}
	}
}

// TestRaftLogsReachSlog checks that raft's own lines arrive at Config.Logger
// with the component and node attributes.
func TestRaftLogsReachSlog(t *testing.T) {
	buf := &syncBuffer{}
	m := newMember(t, "m1")
	m.log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m.open(t, true)
	if err := m.store.WaitLeader(waitTimeout); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, waitTimeout, "sole node leads", m.store.IsLeader)
	m.store.Close()
	out := buf.String()
	for _, want := range []string{"component=raft", "node=m1", "entering leader state"} {
		if !strings.Contains(out, want) {
			t.Errorf("raft log output lacks %q:\n%s", want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for raft's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
