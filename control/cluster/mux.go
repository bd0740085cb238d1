// Package cluster is a node's side of the cluster on 2377: one TLS listener
// that carries the managers' raft traffic and the manager API, the raft
// transport over it, and the clients that join a cluster and reach its leader.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftnet/weft/control/pki"
)

// A client names what it wants with the first byte it sends after the TLS
// handshake.
const (
	tagRaft byte = 'R' // a raft stream; only managers may open one
	tagAPI  byte = 'H' // HTTP: the manager API, including join
)

// handshakeTimeout bounds the TLS handshake and the tag byte, so that a
// silent client cannot hold a goroutine.
const handshakeTimeout = 5 * time.Second

// Mux accepts TLS connections on one listener and hands each to the raft
// transport or to an API server by its tag and by whether the client
// presented a certificate.
type Mux struct {
	ln     net.Listener
	raft   *chanListener
	api    *chanListener
	join   *chanListener
	unauth *unauthCap
	voter  atomic.Pointer[func(nodeID string) bool] // who may open raft streams; nil: nobody yet
	log    *slog.Logger
	wg     sync.WaitGroup
}

// NewMux wraps ln, a TLS listener whose configuration accepts clients without
// a certificate (for joins) and verifies any certificate they present. It
// holds at most maxUnauth API connections without a certificate at once.
func NewMux(ln net.Listener, maxUnauth int, log *slog.Logger) *Mux {
	return &Mux{
		ln: ln, raft: newChanListener(ln.Addr()), api: newChanListener(ln.Addr()), join: newChanListener(ln.Addr()),
		unauth: newUnauthCap(maxUnauth, log), log: log,
	}
}

// Raft is the listener raft streams arrive on.
func (m *Mux) Raft() net.Listener { return m.raft }

// API is the listener API connections with a verified client certificate
// arrive on.
func (m *Mux) API() net.Listener { return m.api }

// Join is the listener API connections without a client certificate (a
// joining node's, or anyone's) arrive on. While the cap is reached, a new
// one closes the oldest that has not yet sent a whole request header, or is
// refused if every one has; the server on Join must report its
// connections' states to JoinConnState.
func (m *Mux) Join() net.Listener { return m.join }

// JoinConnState is the http.Server.ConnState of the server on Join: a
// connection whose request header has arrived is no longer closed to make
// room.
func (m *Mux) JoinConnState(c net.Conn, s http.ConnState) { m.unauth.connState(c, s) }

// UnauthDropped returns how many API connections without a client
// certificate the mux has closed or refused to stay within its cap.
func (m *Mux) UnauthDropped() uint64 { return m.unauth.dropped.Load() }

// Serve accepts until the listener is closed. Other accept errors (out of
// file descriptors, say) are retried with a capped backoff.
func (m *Mux) Serve() {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("2377 accept failed, retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		if err != nil {
			m.raft.Close()
			m.api.Close()
			m.join.Close()
			m.wg.Wait()
			return
		}
		backoff = 0
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.dispatch(c)
		}()
	}
}

// AllowRaft sets who may open raft streams: managers whose node ID voter
// accepts. Until it is called nobody may.
func (m *Mux) AllowRaft(voter func(nodeID string) bool) { m.voter.Store(&voter) }

// Close closes the listener; Serve then returns.
func (m *Mux) Close() error { return m.ln.Close() }

func (m *Mux) dispatch(c net.Conn) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		c.Close()
		return
	}
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	var tag [1]byte
	if err := tc.Handshake(); err != nil {
		m.log.Debug("2377 handshake failed", "peer", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	if _, err := tc.Read(tag[:]); err != nil {
		c.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	switch tag[0] {
	case tagRaft:
		id, role, err := pki.PeerIdentity(tc.ConnectionState())
		if err != nil || role != pki.RoleManager {
			m.log.Warn("refused raft stream from a peer that is not a manager", "peer", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
		if voter := m.voter.Load(); voter == nil || !(*voter)(id) {
			m.log.Warn("refused raft stream from a manager that is not a raft voter (removed?)", "peer", c.RemoteAddr(), "node", id)
			c.Close()
			return
		}
		m.raft.deliver(tc)
	case tagAPI:
		m.deliverAPI(tc)
	default:
		c.Close()
	}
}

// deliverAPI hands an API connection to the API server, or to the join
// server, within the cap, if its client presented no certificate.
func (m *Mux) deliverAPI(tc *tls.Conn) {
	if len(tc.ConnectionState().VerifiedChains) > 0 {
		m.api.deliver(tc)
		return
	}
	if m.unauth.admit(tc) && !m.join.deliver(tc) {
		m.unauth.release(tc)
	}
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver hands c to Accept, or closes it and returns false if the
// listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		c.Close()
		return false
	}
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return l.addr }

// dialTagged opens a TLS connection to addr and sends the tag. It gives up
// when ctx ends or after timeout, whichever is first: a manager that
// accepts TCP and never answers costs no more than that.
func dialTagged(ctx context.Context, addr string, cfg *tls.Config, tag byte, timeout time.Duration) (*tls.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &tls.Dialer{Config: cfg}
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil && dctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		return nil, explainTLS(addr, err)
	}
	c := nc.(*tls.Conn)
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return c, nil
}

// explainTLS turns a handshake failure into an error a user can act on.
func explainTLS(addr string, err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("cannot reach manager at %s: %w", addr, err)
	}
	return fmt.Errorf("TLS with %s: %w", addr, err)
}
