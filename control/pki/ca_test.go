package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("IsCA %v, BasicConstraintsValid %v, MaxPathLen %d (zero %v); want a CA with path length 0",
			c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T; want ECDSA P-256", c.PublicKey)
	}
	if got := time.Until(c.NotAfter); got < CAValidity-time.Minute || got > CAValidity {
		t.Errorf("CA valid for %v more; want %v", got, CAValidity)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA not self-signed: %v", err)
	}
	if ca.ClusterID != "cluster-a" {
		t.Errorf("ClusterID %q; want cluster-a", ca.ClusterID)
	}
	sum := sha256.Sum256(c.Raw)
	if got, want := ca.Fingerprint(), hex.EncodeToString(sum[:]); got != want || len(got) != 64 {
		t.Errorf("Fingerprint %q; want %q", got, want)
	}
	if _, err := NewCA(""); err == nil {
		t.Error("NewCA(\"\"): got no error; want one")
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadCA(ca.CertPEM(), keyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if got.Fingerprint() != ca.Fingerprint() || got.ClusterID != ca.ClusterID {
		t.Errorf("loaded CA %s/%s; want %s/%s", got.ClusterID, got.Fingerprint(), ca.ClusterID, ca.Fingerprint())
	}
	// The loaded CA signs certificates the original one's holders accept.
	key, _ := NewNodeKey()
	certPEM, err := got.Issue("n1", RoleWorker, &key.PublicKey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("certificate from loaded CA does not verify under the original: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	other := mustCA(t, "cluster-b")
	keyPEM, _ := ca.KeyPEM()
	otherKeyPEM, _ := other.KeyPEM()
	nodeKey, _ := NewNodeKey()
	nodeCert, _ := ca.Issue("n1", RoleManager, &nodeKey.PublicKey, nil, 0)
	nodeKeyPEM, _ := MarshalKey(nodeKey)
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		want            string
	}{
		{"garbage cert", []byte("nope"), keyPEM, "no CERTIFICATE PEM block"},
		{"garbage key", ca.CertPEM(), []byte("nope"), "no PEM block"},
		{"other CA's key", ca.CertPEM(), otherKeyPEM, "key does not match"},
		{"node certificate", nodeCert, nodeKeyPEM, "is not a CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCA(tt.certPEM, tt.keyPEM)
			wantErr(t, "LoadCA", err, tt.want)
		})
	}
}

func TestIssue(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	ips := []net.IP{net.ParseIP("198.18.0.7"), net.ParseIP("2001:db8::7"), nil}
	for _, role := range []Role{RoleManager, RoleWorker} {
		t.Run(string(role), func(t *testing.T) {
			key, err := NewNodeKey()
			if err != nil {
				t.Fatal(err)
			}
			certPEM, err := ca.Issue("node-"+string(role), role, &key.PublicKey, ips, 0)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			keyPEM, _ := MarshalKey(key)
			id, err := NewIdentity(certPEM, keyPEM, ca.CertPEM())
			if err != nil {
				t.Fatalf("NewIdentity: %v", err)
			}
			if id.NodeID() != "node-"+string(role) || id.Role() != role || id.ClusterID() != "cluster-a" {
				t.Errorf("identity %s/%s/%s; want node-%s/%s/cluster-a", id.NodeID(), id.Role(), id.ClusterID(), role, role)
			}
			checkLeaf(t, id.Leaf, ips[:2])
			if len(id.Cert.Certificate) != 2 || string(id.Cert.Certificate[1]) != string(ca.Cert.Raw) {
				t.Errorf("chain has %d certificates; want leaf then CA", len(id.Cert.Certificate))
			}
			if !id.CACert.Equal(ca.Cert) || Fingerprint(id.CACert) != ca.Fingerprint() {
				t.Error("identity's CACert is not the CA")
			}
		})
	}
}

// checkLeaf checks the fixed fields of a node certificate.
func checkLeaf(t *testing.T, leaf *x509.Certificate, ips []net.IP) {
	t.Helper()
	if got := time.Until(leaf.NotAfter); got < NodeValidity-time.Minute || got > NodeValidity {
		t.Errorf("node certificate valid for %v more; want %v", got, NodeValidity)
	}
	if leaf.IsCA {
		t.Error("node certificate is a CA")
	}
	if len(leaf.IPAddresses) != len(ips) {
		t.Fatalf("IP SANs %v; want %v", leaf.IPAddresses, ips)
	}
	for i := range ips {
		if !leaf.IPAddresses[i].Equal(ips[i]) {
			t.Errorf("IP SAN %d: got %v; want %v", i, leaf.IPAddresses[i], ips[i])
		}
	}
	eku := map[x509.ExtKeyUsage]bool{}
	for _, u := range leaf.ExtKeyUsage {
		eku[u] = true
	}
	if !eku[x509.ExtKeyUsageServerAuth] || !eku[x509.ExtKeyUsageClientAuth] {
		t.Errorf("ExtKeyUsage %v; want server and client auth", leaf.ExtKeyUsage)
	}
}

func TestIssueErrors(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	key, _ := NewNodeKey()
	tests := []struct {
		name   string
		nodeID string
		role   Role
		pub    any
		want   string
	}{
		{"empty node ID", "", RoleWorker, &key.PublicKey, "empty node ID"},
		{"unknown role", "n1", Role("admin"), &key.PublicKey, `unknown role "admin"`},
		{"nil key", "n1", RoleWorker, (*ecdsa.PublicKey)(nil), "nil public key"},
		{"no key", "n1", RoleWorker, nil, "unsupported public key type"},
		{"short ed25519", "n1", RoleWorker, ed25519.PublicKey{1, 2}, "malformed Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.Issue(tt.nodeID, tt.role, tt.pub, nil, 0)
			wantErr(t, "Issue", err, tt.want)
		})
	}
}

func TestIssueEd25519(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue("n1", RoleWorker, pub, nil, 0); err != nil {
		t.Errorf("Issue(Ed25519 key): %v", err)
	}
}

func TestIssueNeverOutlivesCA(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	key, _ := NewNodeKey()
	now := time.Now()
	certPEM, err := ca.issue("n1", RoleWorker, &key.PublicKey, nil, now, now.Add(2*CAValidity))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ParseCertPEM(certPEM)
	if !leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v; want the CA's %v", leaf.NotAfter, ca.Cert.NotAfter)
	}
}

func TestNewIdentityErrors(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	other := mustCA(t, "cluster-b")
	key, _ := NewNodeKey()
	keyPEM, _ := MarshalKey(key)
	certPEM, _ := ca.Issue("n1", RoleWorker, &key.PublicKey, nil, 0)
	otherKey, _ := NewNodeKey()
	otherKeyPEM, _ := MarshalKey(otherKey)
	caKeyPEM, _ := ca.KeyPEM()
	tests := []struct {
		name                   string
		certPEM, keyPEM, caPEM []byte
		want                   string
	}{
		{"other CA", certPEM, keyPEM, other.CertPEM(), "not issued by CA"},
		{"wrong key", certPEM, otherKeyPEM, ca.CertPEM(), "private key does not match"},
		{"garbage CA", certPEM, keyPEM, []byte("x"), "no CERTIFICATE PEM block"},
		{"CA as node", ca.CertPEM(), caKeyPEM, ca.CertPEM(), "want exactly one role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIdentity(tt.certPEM, tt.keyPEM, tt.caPEM)
			wantErr(t, "NewIdentity", err, tt.want)
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() {
		t.Errorf("curve %v; want P-256", key.Curve.Params().Name)
	}
	b, err := MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKey(b)
	if err != nil || !got.Equal(key) {
		t.Fatalf("ParseKey(MarshalKey(k)): got %v, %v; want k", got, err)
	}
	sec1, _ := x509.MarshalECPrivateKey(key)
	got, err = ParseKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	if err != nil || !got.Equal(key) {
		t.Errorf("ParseKey(SEC 1): got %v; want k", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no PEM block"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), `unexpected PEM block "CERTIFICATE"`},
		{"ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), "is not an ECDSA key"},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}}), "parse key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.in)
			wantErr(t, "ParseKey", err, tt.want)
		})
	}
	if _, err := MarshalKey(nil); err == nil || !strings.Contains(err.Error(), "nil key") {
		t.Errorf("MarshalKey(nil): got %v; want nil key error", err)
	}
}
