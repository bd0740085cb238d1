package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackIsFreeForTCPAndUDP(t *testing.T) {
	port := strconv.Itoa(int(Loopback(t)))
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("listen on TCP %s: got %v; want a free port", port, err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("listen on UDP %s: got %v; want a free port", port, err)
	}
	pc.Close()
}
