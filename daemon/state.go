package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the layout of the state file; a daemon refuses a newer one.
const stateVersion = 1

// state is what weftd keeps across restarts: every network and attachment.
type state struct {
	Networks map[string]*netState `json:"networks"` // by name
}

// netState is one network.
type netState struct {
	ID        string               `json:"id"`
	Name      string               `json:"name"`
	VNI       uint32               `json:"vni"`
	Subnet    netip.Prefix         `json:"subnet"`
	Gateway   netip.Addr           `json:"gateway,omitzero"`
	MTU       int                  `json:"mtu"`
	Peers     []netip.AddrPort     `json:"peers"`
	Created   time.Time            `json:"created"`
	Endpoints map[string]*endpoint `json:"endpoints"` // by endpoint ID
	// Cluster marks this node's copy of a cluster-wide network: the
	// managers own its definition, and gossip programs its data plane.
	Cluster bool `json:"cluster,omitempty"`
	// Encrypted marks a cluster network sealed with ESP between hosts.
	Encrypted bool `json:"encrypted,omitempty"`

	// epoch numbers each start of the network in this process, so that the
	// reconciler knows a rebuilt network's FDB starts empty. Not saved.
	epoch uint64
}

// endpoint is one namespace attached to a network.
type endpoint struct {
	ID      string     `json:"id"`
	Name    string     `json:"name,omitempty"`
	Netns   string     `json:"netns"`    // the path it was attached by
	NetnsID string     `json:"netns_id"` // device and inode of the namespace
	IP      netip.Addr `json:"ip"`
	MAC     string     `json:"mac"`
	IfName  string     `json:"ifname"`  // inside the namespace
	HostIf  string     `json:"host_if"` // the host end of the veth
	Aliases []string   `json:"aliases,omitempty"`
}

// stateFile is the envelope on disk: the state and a checksum of it, so that
// a file cut short or altered is detected rather than trusted.
type stateFile struct {
	Version  int             `json:"version"`
	Checksum string          `json:"sha256"`
	State    json.RawMessage `json:"state"`
}

func newState() *state { return &state{Networks: map[string]*netState{}} }

// loadState reads the state file at path; a missing file is an empty state.
func loadState(path string) (*state, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%w); move it aside to start with no networks", path, err)
	}
	if f.Version > stateVersion {
		return nil, fmt.Errorf("state file %s has version %d; this weftd reads up to %d", path, f.Version, stateVersion)
	}
	if sum := sha256.Sum256(f.State); hex.EncodeToString(sum[:]) != f.Checksum {
		return nil, fmt.Errorf("state file %s is corrupt (checksum mismatch); move it aside to start with no networks", path)
	}
	s := newState()
	if err := json.Unmarshal(f.State, s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%w)", path, err)
	}
	return s, nil
}

// save writes the state to path atomically: a crash leaves either the old
// file or the new one, never a mix.
func (s *state) save(path string) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	raw, err := json.Marshal(stateFile{Version: stateVersion, Checksum: hex.EncodeToString(sum[:]), State: body})
	if err != nil {
		return err
	}
	return writeFileAtomic(path, raw)
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer d.Close()
	return d.Sync()
}
