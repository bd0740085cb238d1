package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"
)

// Role is what a node may do in the cluster; a node certificate carries it as
// its subject organizational unit.
type Role string

const (
	// RoleManager nodes hold the replicated state and serve on 2377.
	RoleManager Role = "manager"
	// RoleWorker nodes only run containers; they never vote.
	RoleWorker Role = "worker"
)

// ParseRole returns the Role named s, or an error if s names none.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleManager, RoleWorker:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: want %q or %q", s, RoleManager, RoleWorker)
}

// Issue signs a node certificate for pub, valid for validity (NodeValidity
// if zero; never past the CA's own expiry), usable as TLS client and
// server. Its subject is CN=nodeID, OU=role, O=cluster ID; ips go into the
// IP SANs. pub must be an ECDSA or Ed25519 public key.
func (ca *CA) Issue(nodeID string, role Role, pub crypto.PublicKey, ips []net.IP, validity time.Duration) (certPEM []byte, err error) {
	if validity == 0 {
		validity = NodeValidity
	}
	if validity < MinNodeValidity {
		return nil, fmt.Errorf("issue %s certificate for node %q: validity %v is below the minimum %v", role, nodeID, validity, MinNodeValidity)
	}
	now := time.Now()
	return ca.issue(nodeID, role, pub, ips, now.Add(-clockSkew), now.Add(validity))
}

// RenewDue reports whether a node certificate has less than a third of
// its validity left at now, counted from when it was issued (its
// NotBefore is backdated by an hour for clock skew): a node renews it
// then, so that a renewal that fails is retried for a long while before
// the certificate expires.
func RenewDue(cert *x509.Certificate, now time.Time) bool {
	issued := cert.NotBefore.Add(clockSkew)
	return cert.NotAfter.Sub(now) < cert.NotAfter.Sub(issued)/3
}

// issue is Issue with an explicit validity period; tests use it for expired
// certificates.
func (ca *CA) issue(nodeID string, role Role, pub crypto.PublicKey, ips []net.IP, notBefore, notAfter time.Time) ([]byte, error) {
	if err := checkIssue(nodeID, role, pub); err != nil {
		return nil, fmt.Errorf("issue %s certificate for node %q: %w", role, nodeID, err)
	}
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:         nodeID,
			OrganizationalUnit: []string{string(role)},
			Organization:       []string{ca.ClusterID},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IPAddresses:           cleanIPs(ips),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue %s certificate for node %q: %w", role, nodeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// checkIssue validates Issue's arguments.
func checkIssue(nodeID string, role Role, pub crypto.PublicKey) error {
	if nodeID == "" {
		return errors.New("empty node ID")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil {
			return errors.New("nil public key")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 public key")
		}
	default:
		return fmt.Errorf("unsupported public key type %T: want ECDSA or Ed25519", pub)
	}
	return nil
}

// cleanIPs drops nil addresses and shortens IPv4 ones to four bytes.
func cleanIPs(ips []net.IP) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		if len(ip) == net.IPv4len || len(ip) == net.IPv6len {
			out = append(out, ip)
		}
	}
	return out
}
