package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weftnet/weft/control/pki"
)

// floodConn opens a connection to the manager API at addr as a joining
// node would, without a client certificate. With request set it asks for
// something once, reads the answer and keeps the connection, as an HTTP
// client keeps one alive; without, it sends nothing after the tag.
func floodConn(t *testing.T, addr, fingerprint string, request bool) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialTagged(ctx, addr, pki.JoinClientConfig(fingerprint), tagAPI, handshakeTimeout)
	if err != nil {
		t.Fatalf("open a connection without a certificate: %v", err)
	}
	if !request {
		return c
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+pathLeader+" HTTP/1.1\r\nHost: m1\r\n\r\n"); err != nil {
		t.Fatalf("send a request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a request without a certificate: got %s; want 401", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c
}

// closedBy reports whether the server closes c by deadline: a read
// returns EOF (or a reset) rather than running into the deadline.
func closedBy(c net.Conn, deadline time.Time) error {
	_ = c.SetReadDeadline(deadline)
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	switch {
	case n > 0:
		return errors.New("the server sent a byte; want it to close the connection")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("still open")
	default:
		return nil
	}
}

// Twice as many connections without a client certificate as the manager
// holds at once, idle before their first request or after one, and as many
// that never start a TLS handshake, do not stop a join; and the manager
// closes every one of the former within the idle timeout.
func TestIdleUnauthenticatedConns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "m1")
	cfg.UnauthConns = 4
	cfg.UnauthIdleTimeout = 300 * time.Millisecond
	m, tokens := initNode(t, cfg)
	addr := m.advertise.String()
	fp := tokens.Worker.Fingerprint

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 2 * cfg.UnauthConns {
		conns = append(conns, floodConn(t, addr, fp, i%2 == 0))
	}
	// And some that never start their handshake: the mux closes them
	// after handshakeTimeout, and they count against nothing.
	var d net.Dialer
	for range cfg.UnauthConns {
		c, err := d.DialContext(testContext(t), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adv, listen := addrs(t)
	w, err := Join(ctx, testConfig(t, "w1"), JoinRequest{Token: tokens.Worker, Via: addr, Advertise: adv, Listen: listen})
	if err != nil {
		t.Fatalf("join under a flood of idle connections: %v", err)
	}
	_ = w.Close()

	deadline := time.Now().Add(cfg.UnauthIdleTimeout + 2*time.Second)
	for i, c := range conns {
		if err := closedBy(c, deadline); err != nil {
			t.Errorf("idle connection %d without a certificate (request sent: %v): got %v; want closed by the manager within %v",
				i, i%2 == 0, err, cfg.UnauthIdleTimeout)
		}
	}
}

// closeRecorder is a connection that only records that it was closed.
type closeRecorder struct {
	net.Conn
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

// The cap makes room by closing the oldest connection that has sent no
// request, refuses a new one only when every one held is busy, counts
// what it drops and warns once per burst.
func TestUnauthCap(t *testing.T) {
	var logs bytes.Buffer
	u := newUnauthCap(2, slog.New(slog.NewTextHandler(&logs, nil)))
	var raw [6]*closeRecorder
	var conns [6]*tls.Conn
	for i := range conns {
		raw[i] = &closeRecorder{}
		conns[i] = tls.Client(raw[i], &tls.Config{})
	}
	steps := []struct {
		what      string
		do        func() bool // false: the step refused a connection
		wantOK    bool
		wantShut  []int // the connections closed so far
		wantCount int
	}{
		{"admit 0", func() bool { return u.admit(conns[0]) }, true, nil, 1},
		{"admit 1", func() bool { return u.admit(conns[1]) }, true, nil, 2},
		{"0 sends a request", func() bool { u.connState(conns[0], http.StateActive); return true }, true, nil, 2},
		{"admit 2: closes 1, the oldest quiet", func() bool { return u.admit(conns[2]) }, true, []int{1}, 2},
		{"2 sends a request", func() bool { u.connState(conns[2], http.StateActive); return true }, true, []int{1}, 2},
		{"admit 3: all busy, refused", func() bool { return u.admit(conns[3]) }, false, []int{1, 3}, 2},
		{"the server closes 0", func() bool { u.connState(conns[0], http.StateClosed); return true }, true, []int{1, 3}, 1},
		{"the server closes 1, no longer counted", func() bool { u.connState(conns[1], http.StateClosed); return true }, true, []int{1, 3}, 1},
		{"admit 4", func() bool { return u.admit(conns[4]) }, true, []int{1, 3}, 2},
		{"release 2 and 4", func() bool { u.release(conns[2]); u.release(conns[4]); return true }, true, []int{1, 3}, 0},
		{"admit 5", func() bool { return u.admit(conns[5]) }, true, []int{1, 3}, 1},
	}
	for _, s := range steps {
		if got := s.do(); got != s.wantOK {
			t.Fatalf("%s: got admitted %v; want %v", s.what, got, s.wantOK)
		}
		var shut []int
		for i, r := range raw {
			if r.closed {
				shut = append(shut, i)
			}
		}
		if !slices.Equal(shut, s.wantShut) {
			t.Fatalf("%s: got closed %v; want %v", s.what, shut, s.wantShut)
		}
		if got := len(u.conns); got != s.wantCount {
			t.Fatalf("%s: got %d counted; want %d", s.what, got, s.wantCount)
		}
	}
	if got := u.dropped.Load(); got != 2 {
		t.Errorf("dropped: got %d; want 2", got)
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
		t.Errorf("warnings in one burst: got %d; want 1:\n%s", got, logs.String())
	}
	if u.warned {
		t.Error("still warned after the count fell to half the cap; want a new burst warned again")
	}
}
