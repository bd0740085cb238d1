//go:build !linux

package dockerfw

// Sync has nothing to do off Linux, where there is no Docker firewall to
// pass.
func Sync(wayOutBridges []string) (changed bool, err error) { return false, ErrNoChain }
