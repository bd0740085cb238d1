package store

import (
	"bytes"
	"slices"
	"time"

	"github.com/weftnet/weft/control/pki"
)

func (s *State) rotateSecret(role pki.Role, secret string) error {
	if secret == "" {
		return errorf(ErrInvalid, "rotate %s secret: empty secret", role)
	}
	switch role {
	case pki.RoleManager:
		s.ManagerSecret = secret
	case pki.RoleWorker:
		s.WorkerSecret = secret
	default:
		return errorf(ErrInvalid, "rotate secret: role %q is neither %s nor %s", role, pki.RoleManager, pki.RoleWorker)
	}
	return nil
}

// addGossipKey installs k as the newest generation (one above the newest
// kept) and drops generations beyond MaxGossipKeys. The first key is the
// primary at once; a later one only once every live member holds it
// (setGossipPrimary), and no key is added while one waits for that, so
// that the primary is never dropped.
func (s *State) addGossipKey(k *Key) (any, error) {
	if k == nil {
		return nil, errorf(ErrInvalid, "add gossip key: command has no key")
	}
	if len(s.GossipKeys) > 0 && s.GossipPrimary != 0 && s.GossipKeys[0].Generation != s.GossipPrimary && !s.GossipRekey {
		return nil, errorf(ErrConflict, "add gossip key: generation %d is not yet held by every member", s.GossipKeys[0].Generation)
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
	if len(s.GossipKeys) == 0 {
		s.GossipPrimary = gen
	}
	if s.GossipRekey {
		s.GossipRekey, s.GossipRetireBelow = false, gen
	}
	s.GossipKeys = append([]Key{nk}, s.GossipKeys...)
	if len(s.GossipKeys) > MaxGossipKeys {
		s.GossipKeys = s.GossipKeys[:MaxGossipKeys]
	}
	return nk.clone(), nil
}

// gossipKeyHeld records that a node holds gossip key generation gen (and
// every older one it was given) and encrypts with generation primary.
func (s *State) gossipKeyHeld(nodeID string, gen, primary uint64) error {
	n, ok := s.Nodes[nodeID]
	switch {
	case !ok:
		return errorf(ErrNotFound, "gossip key held: no such node %q", nodeID)
	case len(s.GossipKeys) == 0 || gen == 0 || gen > s.GossipKeys[0].Generation:
		return errorf(ErrInvalid, "gossip key held: node %s reports generation %d, which was never issued", nodeID, gen)
	}
	n.GossipKeyGen = max(n.GossipKeyGen, gen)
	n.GossipPrimaryGen = max(n.GossipPrimaryGen, min(primary, gen))
	return nil
}

// retireGossipKeys drops the gossip keys older than generation oldest,
// which must be the primary or older: nobody encrypts with them any more,
// and a node that left or was removed while holding them can neither read
// nor send gossip once they are gone.
func (s *State) retireGossipKeys(oldest uint64) error {
	if oldest == 0 || oldest > s.GossipPrimary {
		return errorf(ErrInvalid, "retire gossip keys below generation %d: the primary is %d", oldest, s.GossipPrimary)
	}
	s.GossipKeys = slices.DeleteFunc(s.GossipKeys, func(k Key) bool { return k.Generation < oldest })
	if s.GossipRetireBelow <= oldest {
		s.GossipRetireBelow = 0
	}
	return nil
}

// setGossipPrimary makes generation gen, a kept gossip key no older than
// the primary, the one every node encrypts with.
func (s *State) setGossipPrimary(gen uint64) error {
	if gen < s.GossipPrimary || !slices.ContainsFunc(s.GossipKeys, func(k Key) bool { return k.Generation == gen }) {
		return errorf(ErrInvalid, "set gossip primary: generation %d is not a kept key newer than the primary %d", gen, s.GossipPrimary)
	}
	s.GossipPrimary = gen
	return nil
}

// setCertExpiry sets the lifetime of the node certificates issued from now
// on, and of those renewed.
func (s *State) setCertExpiry(d time.Duration) error {
	if d < pki.MinNodeValidity || d > pki.CAValidity {
		return errorf(ErrInvalid, "certificate expiry %v: want between %v and %v", d, pki.MinNodeValidity, pki.CAValidity)
	}
	s.CertExpiry = d
	return nil
}

// addNetworkKey installs k as the newest data key generation of an
// encrypted network and drops generations beyond MaxNetworkKeys.
func (s *State) addNetworkKey(networkID string, k *Key) (any, error) {
	n, ok := s.Networks[networkID]
	switch {
	case !ok:
		return nil, errorf(ErrNotFound, "add network key: no such network %q", networkID)
	case !n.Encrypted:
		return nil, errorf(ErrInvalid, "add network key: network %s is not encrypted", n.Name)
	}
	keys, nk, err := addKey(n.Keys, k, MaxNetworkKeys, "add key to network "+n.Name)
	if err != nil {
		return nil, err
	}
	n.Keys = keys
	return nk.clone(), nil
}

// addKey returns keys (newest first) with k added as the generation above
// the newest, cut to at most limit generations, and the key added.
func addKey(keys []Key, k *Key, limit int, what string) ([]Key, Key, error) {
	if k == nil || len(k.Key) != NetworkKeyLen {
		return nil, Key{}, errorf(ErrInvalid, "%s: want a key of %d bytes", what, NetworkKeyLen)
	}
	var gen uint64 = 1
	for _, o := range keys {
		if bytes.Equal(o.Key, k.Key) {
			return nil, Key{}, errorf(ErrConflict, "%s: key is already installed as generation %d", what, o.Generation)
		}
		gen = max(gen, o.Generation+1)
	}
	nk := Key{Generation: gen, Key: slices.Clone(k.Key), Created: k.Created.UTC()}
	keys = append([]Key{nk}, keys...)
	return keys[:min(len(keys), limit)], nk, nil
}
