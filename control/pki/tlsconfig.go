package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// ErrFingerprintMismatch is the error a JoinClientConfig handshake fails with
// when the server's CA is not the one the join token pins.
var ErrFingerprintMismatch = errors.New("certificate authority fingerprint mismatch: the token is for another cluster")

// ServerConfig returns a TLS 1.3 server configuration for 2377 that presents
// id's certificate and requires every client to present a certificate chained
// to the CA that names a node ID and role. Read the peer with PeerIdentity.
func (id *Identity) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, _ := id.Current()
			return c, nil
		},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        id.CAPool.Clone(), // callers may add to theirs
		VerifyConnection: verifyClient,
	}
}

// JoinServerConfig is ServerConfig except that a client may present no
// certificate, so that joining nodes can connect. A certificate that is
// presented is still verified against the CA. The caller must check
// PeerIdentity on every request other than a join.
func (id *Identity) JoinServerConfig() *tls.Config {
	cfg := id.ServerConfig()
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg
}

// ClientConfig returns a TLS 1.3 client configuration for 2377 that presents
// id's certificate and accepts only a server whose chain ends in the CA and
// whose certificate has role manager. ServerName is not checked against the
// certificate, so it may be anything, including empty.
func (id *Identity) ClientConfig() *tls.Config {
	pool := id.CAPool.Clone()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, _ := id.Current()
			return c, nil
		},
		// The stdlib check would compare ServerName with the SANs; the CA
		// chain and role are checked in VerifyConnection instead.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf, err := verifyChain(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return fmt.Errorf("verify manager: %w", err)
			}
			return requireManager(leaf)
		},
	}
}

// JoinClientConfig returns a TLS 1.3 client configuration for a node that
// has a join token but no certificate yet. The handshake fails, before the
// client sends any application data, unless the server presents a valid
// chain whose CA has the given fingerprint (see Fingerprint) and a manager
// certificate; if no presented CA has that fingerprint the error wraps
// ErrFingerprintMismatch. The pinned CA is in the connection state's
// PeerCertificates.
func JoinClientConfig(fingerprint string) *tls.Config {
	fingerprint = strings.ToLower(fingerprint)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, //nolint:gosec // CA pinned in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, fingerprint)
		},
	}
}

// verifyClient is the servers' VerifyConnection: a client that presented a
// certificate (already verified by the stdlib) must name a node and role.
func verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // only reachable with JoinServerConfig
	}
	_, _, err := PeerIdentity(cs)
	return err
}

// verifyPinned checks that certs chain to a presented CA whose fingerprint is
// fp, and that the leaf is a manager's.
func verifyPinned(certs []*x509.Certificate, fp string) error {
	if len(certs) == 0 {
		return errors.New("join: server presented no certificate")
	}
	var ca *x509.Certificate
	for _, c := range certs[1:] {
		if c.IsCA && Fingerprint(c) == fp {
			ca = c
			break
		}
	}
	if ca == nil {
		return fmt.Errorf("%w (token pins CA %s; server presented %s)",
			ErrFingerprintMismatch, fp, Fingerprint(certs[len(certs)-1]))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	leaf, err := verifyChain(certs, roots, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return fmt.Errorf("join: server certificate does not chain to the pinned CA %s: %w", fp, err)
	}
	return requireManager(leaf)
}

// requireManager fails unless leaf is a manager's certificate.
func requireManager(leaf *x509.Certificate) error {
	nodeID, role, err := identityOf(leaf)
	if err != nil {
		return err
	}
	if role != RoleManager {
		return fmt.Errorf("server %s has role %s; want %s", nodeID, role, RoleManager)
	}
	return nil
}
