//go:build !linux

package capture

import "errors"

// OpenAFPacket is Linux-only: elsewhere weftd captures nothing.
func OpenAFPacket(string) (Source, error) {
	return nil, errors.New("packet capture needs Linux (AF_PACKET)")
}
