// Package freeport finds ports on loopback that nothing holds, for tests
// that run cluster nodes over real sockets.
package freeport

import (
	"net"
	"strconv"
)

// TB is the part of testing.TB that Loopback uses.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Loopback returns a port of 127.0.0.1 that is free for both TCP and UDP,
// as a cluster node's 2377 and gossip ports must be. Nothing holds it on
// return, so another process may take it first; it fails tb if no port
// is found in 20 tries.
func Loopback(tb TB) uint16 {
	tb.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return uint16(port)
		}
	}
	tb.Fatal("no port free for both TCP and UDP on loopback")
	return 0
}
