package dnshost

import (
	"fmt"
	"net"

	"github.com/weftnet/weft/daemon/links"
)

// listenDNS opens the resolver's UDP and TCP sockets at 127.0.0.11:53 inside
// the namespace at nsPath, which must still be the one of identity wantID,
// bringing its loopback up first. The sockets stay in that namespace; weftd
// serves them from its own.
func listenDNS(nsPath, wantID string) (net.PacketConn, net.Listener, error) {
	ns, id, err := links.OpenNetns(nsPath)
	if err != nil {
		return nil, nil, err
	}
	defer ns.Close()
	if id != wantID {
		return nil, nil, fmt.Errorf("%s is no longer the namespace that was attached", nsPath)
	}
	if err := links.LoopbackUp(ns); err != nil {
		return nil, nil, err
	}
	var pc net.PacketConn
	var ln net.Listener
	err = links.InNetns(ns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", Addr+":53"); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", Addr+":53"); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s:53 in %s: %w", Addr, nsPath, err)
	}
	return pc, ln, nil
}
