package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

const (
	// CAValidity is how long a cluster CA certificate is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeValidity is how long a node certificate is valid.
	NodeValidity = 90 * 24 * time.Hour
	// MinNodeValidity is the shortest node certificate lifetime (weft
	// cluster init --cert-expiry): short enough to test renewal, long
	// enough that a node renews well before expiry.
	MinNodeValidity = time.Minute
	// clockSkew backdates NotBefore so that nodes whose clocks lag the
	// issuer's accept a fresh certificate.
	clockSkew = time.Hour
	// caCommonName is the subject common name of every cluster CA.
	caCommonName = "weft-ca"
)

// CA is a cluster certificate authority: its self-signed certificate and the
// private key that signs node certificates.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// ClusterID is the cluster the CA belongs to; it is the subject
	// organization of the CA and of every certificate it issues.
	ClusterID string

	key *ecdsa.PrivateKey
}

// NewCA makes a cluster CA with a fresh ECDSA P-256 key, valid for CAValidity.
// It may only sign node certificates (path length zero).
func NewCA(clusterID string) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("new CA: empty cluster ID")
	}
	key, err := NewNodeKey()
	if err != nil {
		return nil, fmt.Errorf("new CA for cluster %s: %w", clusterID, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{clusterID}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("new CA for cluster %s: %w", clusterID, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new CA for cluster %s: %w", clusterID, err)
	}
	return &CA{Cert: cert, ClusterID: clusterID, key: key}, nil
}

// LoadCA reads a CA saved with CertPEM and KeyPEM. It fails if the certificate
// is not a CA or the key does not belong to it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("load CA: certificate %q is not a CA", cert.Subject)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: key does not match certificate %q", cert.Subject)
	}
	if len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] == "" {
		return nil, fmt.Errorf("load CA: certificate %q names no cluster ID", cert.Subject)
	}
	return &CA{Cert: cert, ClusterID: cert.Subject.Organization[0], key: key}, nil
}

// CertPEM returns the CA certificate PEM-encoded; it is public.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM returns the CA private key PEM-encoded (PKCS #8). Keep it secret.
func (ca *CA) KeyPEM() ([]byte, error) {
	return MarshalKey(ca.key)
}

// Fingerprint returns the CA certificate's fingerprint, as Fingerprint does.
func (ca *CA) Fingerprint() string {
	return Fingerprint(ca.Cert)
}

// Fingerprint returns the lowercase hex SHA-256 of the certificate's DER, the
// form a join token carries.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseCertPEM parses the first CERTIFICATE block of b.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails; it crashes instead.
	b[0] &= 0x7f
	b[0] |= 0x40 // keep it 127 bits long, never zero
	return new(big.Int).SetBytes(b)
}
