//go:build !linux

package dockerfw

// Allow has nothing to do off Linux, where there is no Docker firewall to
// pass.
func Allow() (added bool, err error) { return false, ErrNoChain }
