package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Identity is a node's certificate and key with the CA that issued it.
// Its certificate may be renewed while TLS configurations made from it
// are in use (Renew): they present the current one.
type Identity struct {
	// Cert is the node's certificate chain (leaf, then CA) and private key
	// as loaded; Current has the renewed one.
	Cert tls.Certificate
	// Leaf is the node's certificate as loaded. Its node ID, role and
	// cluster never change on renewal.
	Leaf *x509.Certificate
	// CAPool holds only the cluster CA; peers are verified against it.
	CAPool *x509.CertPool
	// CACert is the cluster CA certificate.
	CACert *x509.Certificate

	mu      sync.RWMutex
	current *tls.Certificate // nil: Cert
}

// Current returns the certificate the node presents now, and its leaf.
func (id *Identity) Current() (*tls.Certificate, *x509.Certificate) {
	id.mu.RLock()
	defer id.mu.RUnlock()
	if id.current == nil {
		return &id.Cert, id.Leaf
	}
	return id.current, id.current.Leaf
}

// Renew makes certPEM, a certificate the CA issued to the same node, role
// and cluster for the same key, the one the node presents from now on.
func (id *Identity) Renew(certPEM []byte) error {
	leaf, err := ParseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("renew node certificate: %w", err)
	}
	if err := leaf.CheckSignatureFrom(id.CACert); err != nil {
		return fmt.Errorf("renew node certificate: not issued by CA %s: %w", Fingerprint(id.CACert), err)
	}
	node, role, err := identityOf(leaf)
	switch {
	case err != nil:
		return fmt.Errorf("renew node certificate: %w", err)
	case node != id.NodeID() || role != id.Role() || len(leaf.Subject.Organization) == 0 || leaf.Subject.Organization[0] != id.ClusterID():
		return fmt.Errorf("renew node certificate: issued to %s %s, not to this node (%s %s)", role, node, id.Role(), id.NodeID())
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(id.Leaf.PublicKey) {
		return errors.New("renew node certificate: issued for another key")
	}
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw, id.CACert.Raw}, PrivateKey: id.Cert.PrivateKey, Leaf: leaf}
	id.mu.Lock()
	id.current = c
	id.mu.Unlock()
	return nil
}

// NewIdentity builds an Identity from PEM: the node certificate, its private
// key and the CA certificate. It fails if the key does not match, the
// certificate was not signed by the CA or does not name a node ID and role.
// It does not check validity dates: an expired identity loads, and peers
// refuse it at handshake.
func NewIdentity(certPEM, keyPEM, caPEM []byte) (*Identity, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load node identity: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("load node identity: %w", err)
	}
	caCert, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("load node identity: CA: %w", err)
	}
	if err := leaf.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("load node identity %q: not issued by CA %s: %w", leaf.Subject, Fingerprint(caCert), err)
	}
	if _, _, err := identityOf(leaf); err != nil {
		return nil, fmt.Errorf("load node identity: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &Identity{
		Cert: tls.Certificate{
			// The CA goes after the leaf so a joining node, which has no
			// CA yet, can check the fingerprint its token pins.
			Certificate: [][]byte{leaf.Raw, caCert.Raw},
			PrivateKey:  pair.PrivateKey,
			Leaf:        leaf,
		},
		Leaf:   leaf,
		CAPool: pool,
		CACert: caCert,
	}, nil
}

// NodeID returns the node ID the certificate was issued to.
func (id *Identity) NodeID() string { return id.Leaf.Subject.CommonName }

// Role returns the role the certificate was issued for.
func (id *Identity) Role() Role {
	_, role, _ := identityOf(id.Leaf) // NewIdentity checked it
	return role
}

// ClusterID returns the cluster the certificate belongs to.
func (id *Identity) ClusterID() string {
	if len(id.Leaf.Subject.Organization) == 0 {
		return ""
	}
	return id.Leaf.Subject.Organization[0]
}

// PeerIdentity returns the node ID and role of the peer of a TLS connection,
// read from the chain the handshake verified against the CA. It is for the
// server side of ServerConfig and JoinServerConfig; it fails if the peer
// presented no certificate (a joining node). On the client side ClientConfig
// verifies the server itself and the handshake records no verified chain: use
// Identity.VerifyPeer there.
func PeerIdentity(cs tls.ConnectionState) (nodeID string, role Role, err error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", "", errors.New("peer presented no certificate chained to the cluster CA")
	}
	return identityOf(cs.VerifiedChains[0][0])
}

// VerifyPeer verifies the certificates the peer of a TLS connection presented
// against id's CA, now, and returns the peer's node ID and role. It works on
// either side of a connection.
func (id *Identity) VerifyPeer(cs tls.ConnectionState) (nodeID string, role Role, err error) {
	leaf, err := verifyChain(cs.PeerCertificates, id.CAPool, x509.ExtKeyUsageAny)
	if err != nil {
		return "", "", err
	}
	return identityOf(leaf)
}

// verifyChain verifies certs (leaf first, as sent in a handshake) against
// roots for usage, now, and returns the leaf.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("peer presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return nil, fmt.Errorf("verify certificate %q: %w", certs[0].Subject, err)
	}
	return certs[0], nil
}

// identityOf reads the node ID and role out of a node certificate.
func identityOf(leaf *x509.Certificate) (string, Role, error) {
	if leaf.Subject.CommonName == "" {
		return "", "", fmt.Errorf("certificate %q names no node ID", leaf.Subject)
	}
	if len(leaf.Subject.OrganizationalUnit) != 1 {
		return "", "", fmt.Errorf("certificate %q: want exactly one role", leaf.Subject)
	}
	role, err := ParseRole(leaf.Subject.OrganizationalUnit[0])
	if err != nil {
		return "", "", fmt.Errorf("certificate %q: %w", leaf.Subject, err)
	}
	return leaf.Subject.CommonName, role, nil
}
