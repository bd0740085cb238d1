//go:build !linux

package egress

import "errors"

// errUnsupported is what programming rules returns off Linux.
var errUnsupported = errors.New("weftd programs nftables only on Linux")

// Apply is not supported off Linux.
func (t *Table) Apply(Ruleset) error { return errUnsupported }

// Read is not supported off Linux.
func (t *Table) Read() (map[string][]string, error) { return nil, errUnsupported }
