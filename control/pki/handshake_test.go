package pki

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"
)

// cluster is a CA with a manager and a worker, plus a second, unrelated
// cluster's CA and manager.
type cluster struct {
	ca, otherCA                   *CA
	manager, worker, otherManager *Identity
}

func newCluster(t *testing.T) cluster {
	t.Helper()
	c := cluster{ca: mustCA(t, "cluster-a"), otherCA: mustCA(t, "cluster-b")}
	c.manager = mustIdentity(t, c.ca, "manager-1", RoleManager)
	c.worker = mustIdentity(t, c.ca, "worker-1", RoleWorker)
	c.otherManager = mustIdentity(t, c.otherCA, "manager-1", RoleManager)
	return c
}

func TestMutualTLS(t *testing.T) {
	c := newCluster(t)
	for _, client := range []*Identity{c.worker, mustIdentity(t, c.ca, "manager-2", RoleManager)} {
		t.Run(string(client.Role()), func(t *testing.T) {
			cfg := client.ClientConfig()
			cfg.ServerName = "anything.invalid" // not checked
			ex := handshake(t, c.manager.ServerConfig(), cfg)
			wantOK(t, ex)
			if ex.server.Version != tls.VersionTLS13 {
				t.Errorf("version %x; want TLS 1.3", ex.server.Version)
			}
			id, role, err := PeerIdentity(ex.server)
			if err != nil || id != client.NodeID() || role != client.Role() {
				t.Errorf("server's PeerIdentity: got %q %q %v; want %q %q", id, role, err, client.NodeID(), client.Role())
			}
			id, role, err = client.VerifyPeer(ex.client)
			if err != nil || id != "manager-1" || role != RoleManager {
				t.Errorf("client's VerifyPeer: got %q %q %v; want manager-1 manager", id, role, err)
			}
		})
	}
}

// A client must present a certificate to a ServerConfig listener.
func TestServerConfigRequiresClientCert(t *testing.T) {
	c := newCluster(t)
	ex := handshake(t, c.manager.ServerConfig(), JoinClientConfig(c.ca.Fingerprint()))
	wantErr(t, "server", ex.serverErr, "client didn't provide a certificate")
	wantErr(t, "client", ex.clientErr, "certificate required")
	wantNothingRead(t, ex)
}

// A client certificate must chain to the cluster's CA, on both server
// configurations, even if the client sends the real CA certificate along.
func TestServerRejectsForeignClientCert(t *testing.T) {
	c := newCluster(t)
	spoof := c.otherManager.Cert
	spoof.Certificate = [][]byte{spoof.Certificate[0], c.ca.Cert.Raw}
	clients := map[string]tls.Certificate{"other CA": c.otherManager.Cert, "other CA with our CA attached": spoof}
	servers := map[string]*tls.Config{"ServerConfig": c.manager.ServerConfig(), "JoinServerConfig": c.manager.JoinServerConfig()}
	for cname, cert := range clients {
		for sname, srv := range servers {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				// The client trusts the server, and sends its certificate
				// even though the server asks for another CA's; only the
				// server can refuse.
				cfg := &tls.Config{
					MinVersion:         tls.VersionTLS13,
					InsecureSkipVerify: true, //nolint:gosec // test client
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						return &cert, nil
					},
				}
				ex := handshake(t, srv, cfg)
				wantErr(t, "server", ex.serverErr, "certificate signed by unknown authority")
				wantErr(t, "client", ex.clientErr, "unknown certificate authority")
				wantNothingRead(t, ex)
			})
		}
	}
}

// JoinServerConfig lets a joining node in without a certificate, and
// PeerIdentity then says it has none; a node with a certificate is still
// identified.
func TestJoinServerConfig(t *testing.T) {
	c := newCluster(t)
	ex := handshake(t, c.manager.JoinServerConfig(), JoinClientConfig(c.ca.Fingerprint()))
	wantOK(t, ex)
	if id, role, err := PeerIdentity(ex.server); err == nil {
		t.Errorf("PeerIdentity of a cert-less client: got %q %q; want an error", id, role)
	}

	ex = handshake(t, c.manager.JoinServerConfig(), c.worker.ClientConfig())
	wantOK(t, ex)
	if id, role, err := PeerIdentity(ex.server); err != nil || id != "worker-1" || role != RoleWorker {
		t.Errorf("PeerIdentity: got %q %q %v; want worker-1 worker", id, role, err)
	}
}

// JoinClientConfig with the token's fingerprint reaches the manager and can
// read the CA it pinned from the connection.
func TestJoinClientConfig(t *testing.T) {
	c := newCluster(t)
	ex := handshake(t, c.manager.JoinServerConfig(), JoinClientConfig(c.ca.Fingerprint()))
	wantOK(t, ex)
	certs := ex.client.PeerCertificates
	if len(certs) != 2 || Fingerprint(certs[1]) != c.ca.Fingerprint() {
		t.Errorf("server sent %d certificates; want leaf then the pinned CA", len(certs))
	}
}

// A joining node whose token pins another CA, or that meets a server that
// only pretends to be under the pinned CA or is not a manager, aborts the
// handshake: the secret it writes never reaches the server.
func TestJoinClientConfigRefuses(t *testing.T) {
	c := newCluster(t)
	// An impostor with its own leaf and a copy of the (public) real CA.
	impostor := c.otherManager.Cert
	impostor.Certificate = [][]byte{impostor.Certificate[0], c.ca.Cert.Raw}
	leafOnly := c.manager.Cert
	leafOnly.Certificate = leafOnly.Certificate[:1]
	tests := []struct {
		name   string
		server tls.Certificate
		fp     string
		want   string
	}{
		{"other cluster's manager", c.otherManager.Cert, c.ca.Fingerprint(), ErrFingerprintMismatch.Error()},
		{"wrong fingerprint", c.manager.Cert, c.otherCA.Fingerprint(), ErrFingerprintMismatch.Error()},
		{"no CA in chain", leafOnly, c.ca.Fingerprint(), ErrFingerprintMismatch.Error()},
		{"impostor with copied CA", impostor, c.ca.Fingerprint(), "does not chain to the pinned CA"},
		{"worker as server", c.worker.Cert, c.ca.Fingerprint(), "has role worker; want manager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := c.manager.JoinServerConfig()
			srv.Certificates = []tls.Certificate{tt.server}
			ex := handshake(t, srv, JoinClientConfig(tt.fp))
			wantErr(t, "client", ex.clientErr, tt.want)
			wantErr(t, "server", ex.serverErr, "bad certificate")
			wantNothingRead(t, ex)
		})
	}
}

func TestFingerprintMismatchIsSentinel(t *testing.T) {
	c := newCluster(t)
	ex := handshake(t, c.otherManager.JoinServerConfig(), JoinClientConfig(c.ca.Fingerprint()))
	if !errors.Is(ex.clientErr, ErrFingerprintMismatch) {
		t.Errorf("client error %v; want one wrapping ErrFingerprintMismatch", ex.clientErr)
	}
}

// ClientConfig accepts only an unexpired manager certificate under the CA.
func TestClientConfigRefusesServer(t *testing.T) {
	c := newCluster(t)
	past := time.Now().Add(-48 * time.Hour)
	expired := mustIdentityValid(t, c.ca, "manager-old", RoleManager, past, past.Add(time.Hour))
	future := time.Now().Add(48 * time.Hour)
	notYet := mustIdentityValid(t, c.ca, "manager-new", RoleManager, future, future.Add(time.Hour))
	tests := []struct {
		name   string
		server *Identity
		want   string
	}{
		{"expired", expired, "certificate has expired or is not yet valid"},
		{"not yet valid", notYet, "certificate has expired or is not yet valid"},
		{"worker", c.worker, "has role worker; want manager"},
		{"other CA", c.otherManager, "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The server trusts both CAs, so only the client can refuse.
			srv := tt.server.ServerConfig()
			srv.ClientCAs.AddCert(c.ca.Cert)
			ex := handshake(t, srv, c.worker.ClientConfig())
			wantErr(t, "client", ex.clientErr, tt.want)
			wantErr(t, "server", ex.serverErr, "bad certificate")
			wantNothingRead(t, ex)
		})
	}
}

// PeerIdentity needs a chain the handshake verified; on the client side of
// ClientConfig there is none, and it says so rather than trust the server's
// unverified claims.
func TestPeerIdentityClientSide(t *testing.T) {
	c := newCluster(t)
	ex := handshake(t, c.manager.ServerConfig(), c.worker.ClientConfig())
	wantOK(t, ex)
	if _, _, err := PeerIdentity(ex.client); err == nil {
		t.Error("PeerIdentity on the client side: got no error; want one")
	}
	if _, _, err := c.otherManager.VerifyPeer(ex.client); err == nil {
		t.Error("VerifyPeer against another CA: got no error; want one")
	}
}
