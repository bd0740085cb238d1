package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Syslog priorities, as journald reads them from a "<N>" line prefix.
const (
	errorPriority   = 3
	warningPriority = 4
	infoPriority    = 6
	debugPriority   = 7
)

// newLogger returns weftd's logger: text or JSON lines on w at the level
// that level holds. When w is journald's stream (systemd's JOURNAL_STREAM),
// each line starts with its syslog priority, so that journalctl -p filters
// and colours it, and carries no time, which journald records itself.
func newLogger(level *slog.LevelVar, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	f, _ := w.(*os.File)
	journal := f != nil && isJournal(f)
	var jw *journalWriter
	if journal {
		jw = &journalWriter{w: w}
		w = jw
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	if journal {
		h = journalHandler{Handler: h, jw: jw}
	}
	return slog.New(h)
}

// parseLevel reads a log level: debug, info, warn or error (slog's names,
// in any case, optionally with an offset such as warn+2).
func parseLevel(s string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return lv, nil
}

// journalPrefix is the "<N>" prefix that files a line written to stderr at
// syslog priority prio, when stderr is journald's stream; "" otherwise.
func journalPrefix(prio int) string {
	if !isJournal(os.Stderr) {
		return ""
	}
	return fmt.Sprintf("<%d>", prio)
}

// priority maps a slog level to a syslog priority.
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return errorPriority
	case l >= slog.LevelWarn:
		return warningPriority
	case l >= slog.LevelInfo:
		return infoPriority
	}
	return debugPriority
}

// journalHandler prefixes every line its handler writes with the record's
// syslog priority. slog's handlers write each record with one Write.
type journalHandler struct {
	slog.Handler
	jw *journalWriter
}

// Handle writes r with its priority.
func (h journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.jw.mu.Lock()
	defer h.jw.mu.Unlock()
	h.jw.prio = priority(r.Level)
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the prefix on the derived handler.
func (h journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return journalHandler{Handler: h.Handler.WithAttrs(as), jw: h.jw}
}

// WithGroup keeps the prefix on the derived handler.
func (h journalHandler) WithGroup(name string) slog.Handler {
	return journalHandler{Handler: h.Handler.WithGroup(name), jw: h.jw}
}

// journalWriter writes each line with the priority its journalHandler set;
// the handler holds mu around the write.
type journalWriter struct {
	mu   sync.Mutex
	w    io.Writer
	prio int
	buf  []byte
}

func (j *journalWriter) Write(p []byte) (int, error) {
	j.buf = append(fmt.Appendf(j.buf[:0], "<%d>", j.prio), p...)
	if _, err := j.w.Write(j.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
