package store

import (
	"maps"
	"slices"
)

// Bounds on what a command may store, so that no node can grow the
// replicated state (and every snapshot and raft entry) without limit.
// They follow Docker's where it has one.
const (
	// MaxNameLen bounds a network's name: a DNS label, as swarm's.
	MaxNameLen = 63
	// MaxIDLen bounds network and endpoint IDs: Docker's are 64 hex
	// digits.
	MaxIDLen = 64
	// MaxDNSNameLen bounds an endpoint's name and each of its aliases: a
	// DNS name.
	MaxDNSNameLen = 253
	// MaxAliases bounds an endpoint's aliases.
	MaxAliases = 32
	// MaxOptions bounds a network's driver options, MaxOptionKeyLen and
	// MaxOptionValueLen each one's key and value.
	MaxOptions        = 64
	MaxOptionKeyLen   = 255
	MaxOptionValueLen = 1024
)

// checkLen returns an ErrInvalid saying that what, s, is over max bytes.
func checkLen(what, s string, max int) error {
	if len(s) > max {
		return errorf(ErrInvalid, "%s is %d bytes long; at most %d are allowed", what, len(s), max)
	}
	return nil
}

// checkCount returns an ErrInvalid saying that n whats are over max.
func checkCount(what string, n, max int) error {
	if n > max {
		return errorf(ErrInvalid, "%d %s; at most %d are allowed", n, what, max)
	}
	return nil
}

// networkSizes checks the sizes of a new network's name, ID and options.
func networkSizes(n *Network) error {
	errs := []error{
		checkLen("network name", n.Name, MaxNameLen),
		checkLen("network ID", n.ID, MaxIDLen),
		checkCount("options", len(n.Options), MaxOptions),
	}
	for _, k := range slices.Sorted(maps.Keys(n.Options)) { // the same error on every replica
		errs = append(errs, checkLen("option key", k, MaxOptionKeyLen), checkLen("option value", n.Options[k], MaxOptionValueLen))
	}
	return firstErr(errs)
}

// allocationSizes checks the sizes of an allocation's IDs, name and
// aliases.
func allocationSizes(a *Allocation) error {
	errs := []error{
		checkLen("endpoint ID", a.EndpointID, MaxIDLen),
		checkLen("network ID", a.NetworkID, MaxIDLen),
		checkLen("name", a.Name, MaxDNSNameLen),
		checkCount("aliases", len(a.Aliases), MaxAliases),
	}
	for _, alias := range a.Aliases {
		errs = append(errs, checkLen("alias", alias, MaxDNSNameLen))
	}
	return firstErr(errs)
}

// firstErr returns the first error of errs that is not nil, or nil.
func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
