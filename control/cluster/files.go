package cluster

import (
	"crypto/ecdsa"
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

// pendingJoin is the identity a join asks to be admitted with, saved in
// StateDir/cluster/join.json before the manager is asked: if its answer is
// lost after the node was recorded, the retry presents the same node ID
// and key, and the manager admits the same node again.
type pendingJoin struct {
	NodeID string `json:"node_id"`
	Key    []byte `json:"key"` // PEM
}

func pendingPath(stateDir string) string { return filepath.Join(clusterDir(stateDir), "join.json") }

// loadPendingJoin returns the identity of an earlier join that did not
// finish, or a new one, saved.
func loadPendingJoin(stateDir string) (string, *ecdsa.PrivateKey, error) {
	var p pendingJoin
	raw, err := os.ReadFile(pendingPath(stateDir))
	if err == nil && json.Unmarshal(raw, &p) == nil && p.NodeID != "" {
		if key, err := pki.ParseKey(p.Key); err == nil {
			return p.NodeID, key, nil
		}
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		return "", nil, err
	}
	p.NodeID = newID()
	if p.Key, err = pki.MarshalKey(key); err != nil {
		return "", nil, err
	}
	if b, err := json.Marshal(p); err == nil {
		err = os.MkdirAll(clusterDir(stateDir), 0o700)
		if err == nil {
			err = atomicfile.Write(pendingPath(stateDir), b)
		}
		if err != nil {
			return "", nil, fmt.Errorf("cluster state: %w", err)
		}
	}
	return p.NodeID, key, nil
}

// removePendingJoin forgets the identity of a join once it is done.
func removePendingJoin(stateDir string) { _ = os.Remove(pendingPath(stateDir)) }
