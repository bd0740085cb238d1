package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/weftnet/weft/control/pki"
)

// clusterInfo is what a node keeps about its membership, in
// StateDir/cluster/info.json next to its certificate and key.
type clusterInfo struct {
	NodeID      string         `json:"node_id"`
	Role        string         `json:"role"`
	Advertise   netip.AddrPort `json:"advertise"` // 2377, as others reach it
	Listen      string         `json:"listen"`    // 2377 bind address (managers)
	Managers    []string       `json:"managers"`
	GossipPeers []string       `json:"gossip_peers"`
	GossipKeys  [][]byte       `json:"gossip_keys"`
}

func (d *Daemon) clusterDir() string { return filepath.Join(d.cfg.StateDir, "cluster") }

// clusterFiles are the PEM files of a node's identity.
type clusterFiles struct {
	cert, key, ca, caKey []byte // caKey only on managers
}

// saveCluster writes the membership and identity files atomically.
func (d *Daemon) saveCluster(info clusterInfo, f clusterFiles) error {
	dir := d.clusterDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster state: %w", err)
	}
	for name, data := range map[string][]byte{"node.crt": f.cert, "node.key": f.key, "ca.crt": f.ca, "ca.key": f.caKey} {
		if data == nil {
			continue
		}
		if err := writeFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "info.json"), b)
}

// loadCluster reads the membership and identity, if this node is in a cluster.
func (d *Daemon) loadCluster() (*clusterInfo, clusterFiles, error) {
	dir := d.clusterDir()
	raw, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, clusterFiles{}, nil
	}
	if err != nil {
		return nil, clusterFiles{}, fmt.Errorf("cluster state: %w", err)
	}
	var info clusterInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, clusterFiles{}, fmt.Errorf("cluster state %s is corrupt: %w", filepath.Join(dir, "info.json"), err)
	}
	var f clusterFiles
	for name, dst := range map[string]*[]byte{"node.crt": &f.cert, "node.key": &f.key, "ca.crt": &f.ca} {
		if *dst, err = os.ReadFile(filepath.Join(dir, name)); err != nil {
			return nil, f, fmt.Errorf("cluster identity: %w", err)
		}
	}
	if info.Role == string(pki.RoleManager) {
		if f.caKey, err = os.ReadFile(filepath.Join(dir, "ca.key")); err != nil {
			return nil, f, fmt.Errorf("cluster identity: %w", err)
		}
	}
	return &info, f, nil
}
