package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// SetKeys replaces the gossip keys: keys[0] becomes the primary, which
// encrypts; every key listed decrypts; keys not listed are removed.
//
// Rotate in three steps, each done on every node before the next starts,
// so that nobody ever receives a message under a key it lacks:
//
//  1. install: SetKeys(old primary, new, ...) — the new key decrypts
//  2. promote: SetKeys(new, old primary, ...) — the new key encrypts
//  3. retire:  SetKeys(new, ...) without the oldest key
//
// Three generations are live during a rotation. SetKeys fails if the agent
// was started without keys: encryption cannot be turned on in a running
// cluster.
func (a *Agent) SetKeys(keys [][]byte) error {
	if a.keyring == nil {
		return errors.New("gossip set keys: encryption is off; keys can only be given to New")
	}
	if len(keys) == 0 {
		return errors.New("gossip set keys: no keys")
	}
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("gossip set keys: keys[%d]: %w", i, err)
		}
	}
	keys = cloneKeys(keys)
	a.keysMu.Lock()
	defer a.keysMu.Unlock()
	for _, k := range keys {
		if err := a.keyring.AddKey(k); err != nil {
			return fmt.Errorf("gossip set keys: %w", err)
		}
	}
	if err := a.keyring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip set keys: %w", err)
	}
	return a.removeKeysLocked(keys)
}

// removeKeysLocked drops every key of the ring not in keep, keeping keep[0]
// primary. memberlist's Keyring.RemoveKey shifts the ring's slice in place,
// racing with readers that took it from GetKeys before, unless the key is
// the last one. So the kept keys are first moved to the front (UseKey
// builds a fresh slice each time, each kept key being briefly primary), and
// stale keys are then removed from the end.
func (a *Agent) removeKeysLocked(keep [][]byte) error {
	kept := func(k []byte) bool {
		return slices.ContainsFunc(keep, func(x []byte) bool { return bytes.Equal(x, k) })
	}
	if !slices.ContainsFunc(a.keyring.GetKeys(), func(k []byte) bool { return !kept(k) }) {
		return nil
	}
	for i := len(keep) - 1; i >= 0; i-- {
		if err := a.keyring.UseKey(keep[i]); err != nil {
			return fmt.Errorf("gossip set keys: %w", err)
		}
	}
	for {
		ring := a.keyring.GetKeys()
		last := ring[len(ring)-1]
		if kept(last) {
			return nil
		}
		if err := a.keyring.RemoveKey(last); err != nil {
			return fmt.Errorf("gossip set keys: %w", err)
		}
	}
}
