//go:build !linux

package daemon

import "net"

func listenDNS(string, string) (net.PacketConn, net.Listener, error) { return nil, nil, errUnsupported }
