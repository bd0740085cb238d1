package resolver

import (
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// resolvConfCheck is how often, at most, ResolvConf is checked for change.
const resolvConfCheck = 2 * time.Second

// upstreams gives the resolvers to forward to: fixed ones, or those of a
// resolv.conf re-read when it changes. Its methods are safe for concurrent
// use; the slices they return must not be changed.
type upstreams struct {
	fixed    []netip.AddrPort // used when path is ""
	path     string
	interval time.Duration // between checks of path
	log      *slog.Logger

	mu      sync.Mutex
	next    time.Time // when path may be checked again
	mod     time.Time // modification time of the version read
	size    int64     // size of the version read
	read    bool      // whether a version was read
	lastErr string    // the last error logged, to log each once
	current []netip.AddrPort
}

// newUpstreams returns the upstreams of cfg, which is valid, reading its
// resolv.conf once now.
func newUpstreams(cfg *Config, log *slog.Logger) *upstreams {
	u := &upstreams{interval: resolvConfCheck, log: log}
	if len(cfg.Upstreams) > 0 {
		for _, a := range cfg.Upstreams[:min(len(cfg.Upstreams), maxUpstreams)] {
			u.fixed = append(u.fixed, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
		}
		return u
	}
	u.path = cfg.ResolvConf
	u.get()
	return u
}

// get returns the upstreams in use, re-reading the resolv.conf if it is
// time to check it and it changed.
func (u *upstreams) get() []netip.AddrPort {
	if u.path == "" {
		return u.fixed
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if now := time.Now(); !now.Before(u.next) {
		u.next = now.Add(u.interval)
		u.reload()
	}
	return u.current
}

// reload re-reads the resolv.conf if it changed. On error it keeps the
// upstreams it had: a file being replaced may be missing for a moment.
func (u *upstreams) reload() {
	fi, err := os.Stat(u.path)
	if err != nil {
		u.fail(err)
		return
	}
	if u.read && fi.ModTime().Equal(u.mod) && fi.Size() == u.size {
		return
	}
	b, err := os.ReadFile(u.path)
	if err != nil {
		u.fail(err)
		return
	}
	u.current, u.mod, u.size, u.read, u.lastErr = parseResolvConf(b), fi.ModTime(), fi.Size(), true, ""
	u.log.Info("dns: upstreams read", "path", u.path, "upstreams", u.current)
}

// fail logs err unless it was the last one logged.
func (u *upstreams) fail(err error) {
	if err.Error() == u.lastErr {
		return
	}
	u.lastErr = err.Error()
	u.log.Warn("dns: cannot read resolv.conf; keeping the upstreams in use", "path", u.path, "upstreams", u.current, "err", err)
}

// parseResolvConf returns the first three "nameserver" addresses of a
// resolv.conf, at port 53, skipping the embedded resolver's own address
// and anything that is not an IP address. Text from '#' or ';' to the end
// of a line is a comment.
func parseResolvConf(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	for line := range strings.Lines(string(b)) {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || isSelf(a) {
			continue
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
		if len(out) == maxUpstreams {
			break
		}
	}
	return out
}
