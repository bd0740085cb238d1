package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/internal/atomicfile"
)

// info is what a node keeps about its membership, in
// StateDir/cluster/info.json next to its certificate and key.
type info struct {
	NodeID      string         `json:"node_id"`
	Role        pki.Role       `json:"role"`
	Advertise   netip.AddrPort `json:"advertise"` // 2377, as others reach it
	Listen      string         `json:"listen"`    // 2377 bind address (managers)
	Managers    []string       `json:"managers"`
	GossipPeers []string       `json:"gossip_peers"`
	GossipKeys  [][]byte       `json:"gossip_keys"`
}

// identityFiles are the PEM files of a node's identity.
type identityFiles struct {
	cert, key, ca, caKey []byte // caKey only on managers
}

func clusterDir(stateDir string) string { return filepath.Join(stateDir, "cluster") }
func raftDir(stateDir string) string    { return filepath.Join(stateDir, "raft") }

// saveFiles writes the membership and the identity files that are set,
// each atomically.
func saveFiles(stateDir string, inf info, f identityFiles) error {
	dir := clusterDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster state: %w", err)
	}
	for name, data := range map[string][]byte{"node.crt": f.cert, "node.key": f.key, "ca.crt": f.ca, "ca.key": f.caKey} {
		if data == nil {
			continue
		}
		if err := atomicfile.Write(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(inf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "info.json"), b)
}

// loadFiles reads the membership and identity; a nil info means that this
// node is in no cluster.
func loadFiles(stateDir string) (*info, identityFiles, error) {
	dir := clusterDir(stateDir)
	raw, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, identityFiles{}, nil
	}
	if err != nil {
		return nil, identityFiles{}, fmt.Errorf("cluster state: %w", err)
	}
	var inf info
	if err := json.Unmarshal(raw, &inf); err != nil {
		return nil, identityFiles{}, fmt.Errorf("cluster state %s is corrupt: %w", filepath.Join(dir, "info.json"), err)
	}
	var f identityFiles
	for name, dst := range map[string]*[]byte{"node.crt": &f.cert, "node.key": &f.key, "ca.crt": &f.ca} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, f, fmt.Errorf("cluster identity: %w", err)
		}
	}
	if inf.Role == pki.RoleManager {
		if f.caKey, err = os.ReadFile(filepath.Join(dir, "ca.key")); err != nil {
			return nil, f, fmt.Errorf("cluster identity: %w", err)
		}
	}
	return &inf, f, nil
}

// removeFiles forgets a membership: identity, info and raft log.
func removeFiles(stateDir string) {
	_ = os.RemoveAll(clusterDir(stateDir))
	_ = os.RemoveAll(raftDir(stateDir))
}
