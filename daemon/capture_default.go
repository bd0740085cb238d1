//go:build !linux

package daemon

import "errors"

// openAFPacket is Linux-only: elsewhere weftd captures nothing.
func openAFPacket(string) (packetSource, error) {
	return nil, errors.New("packet capture needs Linux (AF_PACKET)")
}
