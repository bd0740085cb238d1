package cluster

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer carries raft over the mux: it accepts the streams the mux
// sorted out as raft and dials other managers with mutual TLS.
type streamLayer struct {
	net.Listener
	cfg       *tls.Config // client side, with this node's certificate
	advertise net.Addr    // where other managers reach this one
}

// Addr is the advertised address, which raft records as this server's.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialTagged(context.Background(), string(addr), s.cfg, tagRaft, timeout)
}

// NewRaftTransport returns a raft transport over the mux's raft streams;
// advertise is the address other managers dial.
func NewRaftTransport(m *Mux, client *tls.Config, advertise net.Addr, logOutput io.Writer) *raft.NetworkTransport {
	layer := &streamLayer{Listener: m.Raft(), cfg: client, advertise: advertise}
	return raft.NewNetworkTransport(layer, 3, 10*time.Second, logOutput)
}
