package store

import (
	"bytes"
	"slices"
)

func (s *State) rotateSecret(role, secret string) error {
	if secret == "" {
		return errorf(ErrInvalid, "rotate %s secret: empty secret", role)
	}
	switch role {
	case RoleManager:
		s.ManagerSecret = secret
	case RoleWorker:
		s.WorkerSecret = secret
	default:
		return errorf(ErrInvalid, "rotate secret: role %q is neither %s nor %s", role, RoleManager, RoleWorker)
	}
	return nil
}

// addGossipKey installs k as the newest generation (one above the newest
// kept) and drops generations beyond MaxGossipKeys.
func (s *State) addGossipKey(k *Key) (any, error) {
	if k == nil {
		return nil, errorf(ErrInvalid, "add gossip key: command has no key")
	}
	switch len(k.Key) {
	case 16, 24, 32:
	default:
		return nil, errorf(ErrInvalid, "add gossip key: key is %d bytes; want 16, 24 or 32 (AES)", len(k.Key))
	}
	var gen uint64 = 1
	for _, o := range s.GossipKeys {
		if bytes.Equal(o.Key, k.Key) {
			return nil, errorf(ErrConflict, "add gossip key: key is already installed as generation %d", o.Generation)
		}
		gen = max(gen, o.Generation+1)
	}
	nk := Key{Generation: gen, Key: slices.Clone(k.Key), Created: k.Created.UTC()}
	s.GossipKeys = append([]Key{nk}, s.GossipKeys...)
	if len(s.GossipKeys) > MaxGossipKeys {
		s.GossipKeys = s.GossipKeys[:MaxGossipKeys]
	}
	return nk.clone(), nil
}
