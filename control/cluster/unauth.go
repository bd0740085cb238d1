package cluster

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// unauthCap bounds the API connections without a client certificate that a
// manager holds at once. Joining nodes present none, and neither does
// anyone else who can reach 2377, so the cap cannot tell a join from a
// flood by who connects: it tells them by what they do. A join sends its
// request as soon as its handshake is done; a connection that has sent no
// whole request header yet is "quiet", and when the cap is reached the
// oldest quiet one is closed to make room. Only when every connection held
// is busy with a request is a new one refused.
type unauthCap struct {
	max     int
	log     *slog.Logger
	dropped atomic.Uint64 // connections closed or refused to stay within max

	mu     sync.Mutex   // guards the fields below; no I/O under it
	conns  []unauthConn // oldest first
	warned bool         // a WARN was logged since the count last fell to max/2
}

// unauthConn is a connection counted by an unauthCap.
type unauthConn struct {
	conn *tls.Conn
	busy bool // its request header has arrived
}

func newUnauthCap(maxConns int, log *slog.Logger) *unauthCap {
	return &unauthCap{max: maxConns, log: log}
}

// admit counts c until connState sees it closed, and reports whether it
// did: if every place is held by a busy connection, it closes c instead.
// A connection it admits that never reaches the server must be released.
func (u *unauthCap) admit(c *tls.Conn) bool {
	victim, ok := u.add(c)
	if victim != nil || !ok {
		u.dropped.Add(1)
	}
	if victim != nil {
		// Without a close_notify, which could wait on the client; the
		// server sees its read fail, closes it and reports it closed.
		_ = victim.NetConn().Close()
	}
	if !ok {
		_ = c.NetConn().Close()
	}
	return ok
}

// add counts c, making room by dropping the oldest quiet connection,
// which it returns, if the cap is reached; false if there is no room.
func (u *unauthCap) add(c *tls.Conn) (victim *tls.Conn, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.conns) >= u.max {
		i := u.oldestQuietLocked()
		if i < 0 {
			u.warnLocked("refusing new ones while every one held is busy")
			return nil, false
		}
		victim = u.conns[i].conn
		u.conns = slices.Delete(u.conns, i, i+1)
		u.warnLocked("closing the longest idle to make room")
	}
	u.conns = append(u.conns, unauthConn{conn: c})
	return victim, true
}

// oldestQuietLocked returns the index of the oldest connection that has
// not sent a whole request header, or -1.
func (u *unauthCap) oldestQuietLocked() int {
	for i, c := range u.conns {
		if !c.busy {
			return i
		}
	}
	return -1
}

// warnLocked logs, once per burst, that the cap is reached.
func (u *unauthCap) warnLocked(what string) {
	if u.warned {
		return
	}
	u.warned = true
	u.log.Warn("2377: too many connections without a client certificate; "+what, "limit", u.max)
}

// connState follows the server's view of a connection: busy once its
// request header has arrived, no longer counted once it is closed.
func (u *unauthCap) connState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateActive:
		u.update(c, func(uc *unauthConn) { uc.busy = true })
	case http.StateClosed, http.StateHijacked:
		u.release(c)
	}
}

// release stops counting c, if it still is.
func (u *unauthCap) release(c net.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := u.indexLocked(c); i >= 0 {
		u.conns = slices.Delete(u.conns, i, i+1)
	}
	if len(u.conns) <= u.max/2 {
		u.warned = false
	}
}

// update calls f on c's entry, if c is counted.
func (u *unauthCap) update(c net.Conn, f func(*unauthConn)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := u.indexLocked(c); i >= 0 {
		f(&u.conns[i])
	}
}

func (u *unauthCap) indexLocked(c net.Conn) int {
	return slices.IndexFunc(u.conns, func(uc unauthConn) bool { return net.Conn(uc.conn) == c })
}
