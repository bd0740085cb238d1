package store

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logWriter turns the lines raft writes through hclog (to Config.LogOutput)
// into slog records, so that raft logs where the rest of weft does without
// this package importing hclog.
type logWriter struct {
	log *slog.Logger
}

// Write logs each line of p; a line looks like
// "2025-01-02T15:04:05.000Z [WARN]  raft: heartbeat timeout reached: ...".
func (w logWriter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		level, msg := parseHCLogLine(strings.TrimSpace(string(line)))
		if msg != "" {
			w.log.Log(context.Background(), level, msg)
		}
	}
	return len(p), nil
}

func parseHCLogLine(line string) (slog.Level, string) {
	open, end := strings.Index(line, "["), strings.Index(line, "]")
	if open < 0 || end < open {
		return slog.LevelInfo, line
	}
	msg := strings.TrimSpace(line[end+1:])
	switch line[open+1 : end] {
	case "TRACE", "DEBUG":
		return slog.LevelDebug, msg
	case "WARN":
		return slog.LevelWarn, msg
	case "ERROR":
		return slog.LevelError, msg
	}
	return slog.LevelInfo, msg
}

// hclogLevel is the most verbose hclog level that log would keep, so that
// raft does not format lines only to have them dropped.
func hclogLevel(log *slog.Logger) string {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return "DEBUG"
	case log.Enabled(ctx, slog.LevelInfo):
		return "INFO"
	case log.Enabled(ctx, slog.LevelWarn):
		return "WARN"
	case log.Enabled(ctx, slog.LevelError):
		return "ERROR"
	}
	return "OFF"
}
