package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/weftnet/weft/daemon/egress"
	"github.com/weftnet/weft/internal/atomicfile"
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
	// Internal marks a network with no way out of the overlay: no
	// gateway on the bridge, no default route, nothing forwarded.
	Internal bool `json:"internal,omitempty"`
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
	// ContainerID is the runtime's container ID it was attached with, if
	// any (CNI): kept so that a detach by container ID works after a
	// restart and once the namespace is gone.
	ContainerID string `json:"container_id,omitempty"`
	// Published are the container's ports published on this host.
	Published []egress.Port `json:"published,omitempty"`
	// Docker marks a Docker container's endpoint: Docker moves its
	// container end (IfName, on the host until then) into the container,
	// so it has no namespace of weft's (Netns is empty; NetnsID is
	// "docker/" and the endpoint ID), and DockerID is Docker's endpoint
	// ID once Docker made the endpoint.
	Docker   bool   `json:"docker,omitempty"`
	DockerID string `json:"docker_id,omitempty"`
}

// stateFile is the envelope on disk: the state and a checksum of it, so that
// a file cut short or altered is detected rather than trusted.
type stateFile struct {
	Version  int             `json:"version"`
	Checksum string          `json:"sha256"`
	State    json.RawMessage `json:"state"`
}

func newState() *state { return &state{Networks: map[string]*netState{}} }

// backupPath is where save keeps a second copy of the state file at path,
// which loadState falls back to when the first is damaged.
func backupPath(path string) string { return path + ".bak" }

// corruptPath is where loadState moves a damaged state file it recovered
// from, for a post-mortem.
func corruptPath(path string) string { return path + ".corrupt" }

// corruptError says why a state file cannot be trusted.
type corruptError struct {
	path string
	why  string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt: %s", e.path, e.why)
}

// loadState reads the state file at path. A file that is damaged (cut
// short, altered, emptied) is never trusted: the copy save keeps next to it
// is used instead, with a warning that names both, and the damaged file is
// kept aside; when that copy is damaged too, loadState fails with an error
// that names the files and what is wrong with them. No file at all is an
// empty state.
func loadState(path string, log *slog.Logger) (*state, error) {
	removeTemps(filepath.Dir(path))
	s, err := readState(path)
	var bad *corruptError
	missing := errors.Is(err, fs.ErrNotExist)
	if err == nil || (!missing && !errors.As(err, &bad)) {
		return s, err
	}
	bs, berr := readState(backupPath(path))
	noBackup := errors.Is(berr, fs.ErrNotExist)
	switch {
	case berr == nil: // recovered below
	case missing && noBackup:
		return newState(), nil
	case missing:
		return nil, fmt.Errorf("state file %s is missing and its backup cannot be used: %w; move %s aside to start with no networks", path, berr, backupPath(path))
	case noBackup:
		return nil, fmt.Errorf("%w; it has no backup (%s) to recover from, and weftd will not guess what it held: move it aside to start with no networks", err, backupPath(path))
	default:
		return nil, fmt.Errorf("%w, and its backup cannot be used either: %w; weftd will not guess what they held: move both aside to start with no networks", err, berr)
	}
	if !missing {
		if rerr := os.Rename(path, corruptPath(path)); rerr != nil {
			log.Warn("damaged state file not moved aside", "file", path, "err", rerr)
		}
	}
	log.Warn("state file unusable; recovered it from its backup", "file", path, "problem", err, "backup", backupPath(path), "damaged_copy", corruptPath(path), "networks", len(bs.Networks))
	if serr := bs.save(path); serr != nil {
		log.Error("recovered state not written back; the backup stays in use", "file", path, "err", serr)
	}
	return bs, nil
}

// readState reads and checks one state file. Damage comes back as a
// *corruptError; a file that is not there as fs.ErrNotExist.
func readState(path string) (*state, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	corrupt := func(format string, args ...any) error {
		return &corruptError{path: path, why: fmt.Sprintf(format, args...)}
	}
	if len(raw) == 0 {
		return nil, corrupt("the file is empty")
	}
	var f stateFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, corrupt("not a whole JSON document (%v); cut short?", err)
	}
	if f.Version > stateVersion {
		return nil, fmt.Errorf("state file %s has version %d; this weftd reads up to %d", path, f.Version, stateVersion)
	}
	if f.Version < 1 {
		return nil, corrupt("no valid version (%d)", f.Version)
	}
	if sum := sha256.Sum256(f.State); hex.EncodeToString(sum[:]) != f.Checksum {
		return nil, corrupt("checksum mismatch: its contents are not what weftd wrote")
	}
	s := newState()
	if err := json.Unmarshal(f.State, s); err != nil {
		return nil, corrupt("%v", err)
	}
	if err := s.check(); err != nil {
		return nil, corrupt("%v", err)
	}
	return s, nil
}

// check verifies what the checksum cannot: that the state is one weftd
// could have made. Every network is filed under its name, has a VNI of its
// own and an endpoint map; every endpoint is filed under its ID and has an
// address of its network's subnet that no other endpoint there has, and a
// host interface.
func (s *state) check() error {
	if s.Networks == nil {
		s.Networks = map[string]*netState{}
	}
	vnis := map[uint32]string{}
	for name, n := range s.Networks {
		switch {
		case n == nil || n.Name != name:
			return fmt.Errorf("network %q is filed under another name", name)
		case n.VNI == 0 || vnis[n.VNI] != "":
			return fmt.Errorf("network %s: VNI %d is invalid or also %s's", name, n.VNI, vnis[n.VNI])
		case !n.Subnet.IsValid():
			return fmt.Errorf("network %s has no subnet", name)
		}
		vnis[n.VNI] = name
		if n.Endpoints == nil {
			n.Endpoints = map[string]*endpoint{}
		}
		if err := n.checkEndpoints(); err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
	}
	return nil
}

func (n *netState) checkEndpoints() error {
	ips := map[netip.Addr]string{}
	for id, ep := range n.Endpoints {
		switch {
		case ep == nil || ep.ID != id:
			return fmt.Errorf("endpoint %q is filed under another ID", id)
		case !n.Subnet.Contains(ep.IP):
			return fmt.Errorf("endpoint %s: address %s is not in %s", id, ep.IP, n.Subnet)
		case ips[ep.IP] != "":
			return fmt.Errorf("endpoints %s and %s both have %s", ips[ep.IP], id, ep.IP)
		case ep.HostIf == "":
			return fmt.Errorf("endpoint %s has no host interface", id)
		}
		ips[ep.IP] = id
	}
	return nil
}

// save writes the state to path and to its backup, each atomically (a
// crash leaves either the old file or the new one, never a mix) and synced
// to disk. The backup is written first: when save fails, path still holds
// the state before the change the caller is about to undo.
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
	if err := atomicfile.Write(backupPath(path), raw); err != nil {
		return err
	}
	return atomicfile.Write(path, raw)
}

// removeTemps deletes the temporary files a crash in the middle of
// atomicfile.Write left in dir.
func removeTemps(dir string) {
	left, _ := filepath.Glob(filepath.Join(dir, atomicfile.TempPattern))
	for _, f := range left {
		_ = os.Remove(f)
	}
}
