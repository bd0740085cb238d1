package pki

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// mustCA makes a CA or fails the test.
func mustCA(t testing.TB, clusterID string) *CA {
	t.Helper()
	ca, err := NewCA(clusterID)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", clusterID, err)
	}
	return ca
}

// mustIdentity issues a node certificate valid from now and loads it.
func mustIdentity(t testing.TB, ca *CA, nodeID string, role Role) *Identity {
	t.Helper()
	now := time.Now()
	return mustIdentityValid(t, ca, nodeID, role, now.Add(-clockSkew), now.Add(NodeValidity))
}

// mustIdentityValid issues a node certificate with the given validity period
// and loads it.
func mustIdentityValid(t testing.TB, ca *CA, nodeID string, role Role, notBefore, notAfter time.Time) *Identity {
	t.Helper()
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.issue(nodeID, role, &key.PublicKey, []net.IP{net.IPv4(198, 18, 0, 1)}, notBefore, notAfter)
	if err != nil {
		t.Fatalf("issue %s %s: %v", role, nodeID, err)
	}
	keyPEM, err := MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity(certPEM, keyPEM, ca.CertPEM())
	if err != nil {
		t.Fatalf("NewIdentity(%s): %v", nodeID, err)
	}
	return id
}

// exchange is what happened on both ends of one connection.
type exchange struct {
	serverErr, clientErr error
	server, client       tls.ConnectionState
	// serverGot is the application data the server read.
	serverGot []byte
}

const (
	ping = "secret-bytes"
	ack  = "ack"
)

// handshake connects a client and a server over loopback TCP. The client
// writes ping without calling Handshake first, as a careless caller would, so
// nothing may reach the server unless the client's checks passed; the server
// reads it and answers ack. Every step is bounded by a deadline.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) exchange {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan exchange, 1)
	go func() { done <- serve(ln, serverCfg) }()

	raw, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Client(raw, clientCfg)
	var clientErr error
	var clientState tls.ConnectionState
	if _, clientErr = c.Write([]byte(ping)); clientErr == nil {
		clientState = c.ConnectionState()
		buf := make([]byte, len(ack))
		_, clientErr = io.ReadFull(c, buf)
	}
	_ = c.Close()
	ex := <-done
	ex.clientErr, ex.client = clientErr, clientState
	return ex
}

// serve accepts one connection on ln and plays the server's side of
// handshake.
func serve(ln net.Listener, cfg *tls.Config) exchange {
	var ex exchange
	raw, err := ln.Accept()
	if err != nil {
		ex.serverErr = err
		return ex
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	c := tls.Server(raw, cfg)
	if ex.serverErr = c.Handshake(); ex.serverErr != nil {
		return ex
	}
	ex.server = c.ConnectionState()
	buf := make([]byte, len(ping))
	n, err := io.ReadFull(c, buf)
	ex.serverGot = buf[:n]
	if err != nil {
		ex.serverErr = err
		return ex
	}
	_, ex.serverErr = c.Write([]byte(ack))
	return ex
}

// wantErr fails unless err is non-nil and contains want.
func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s error: got %v; want one containing %q", what, err, want)
	}
}

// wantOK fails if the exchange did not complete on both ends.
func wantOK(t *testing.T, ex exchange) {
	t.Helper()
	if ex.serverErr != nil || ex.clientErr != nil {
		t.Fatalf("exchange: server error %v, client error %v; want none", ex.serverErr, ex.clientErr)
	}
	if string(ex.serverGot) != ping {
		t.Fatalf("server read %q; want %q", ex.serverGot, ping)
	}
}

// wantNothingRead fails if the server read any application data.
func wantNothingRead(t *testing.T, ex exchange) {
	t.Helper()
	if len(ex.serverGot) != 0 {
		t.Errorf("server read application data %q; want none", ex.serverGot)
	}
}
