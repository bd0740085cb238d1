//go:build !linux

package dnshost

import (
	"errors"
	"net"
)

func listenDNS(string, string) (net.PacketConn, net.Listener, error) {
	return nil, nil, errors.New("the embedded resolver serves containers on Linux only")
}
