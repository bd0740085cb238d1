package main

import (
	"fmt"
	"os"
	"syscall"
)

// isJournal reports whether f is the stream systemd connected to journald
// for this service: JOURNAL_STREAM names its device and inode.
func isJournal(f *os.File) bool {
	want := os.Getenv("JOURNAL_STREAM")
	if want == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && want == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
