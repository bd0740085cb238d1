package pki

import (
	"net"
	"testing"
	"time"
)

func TestRenewDue(t *testing.T) {
	ca := mustCA(t, "cluster-a")
	issued := time.Now()
	id := mustIdentityValid(t, ca, "n1", RoleWorker, issued.Add(-clockSkew), issued.Add(90*time.Minute))
	for _, tc := range []struct {
		at   time.Duration // after issue
		want bool
	}{
		{0, false}, {59 * time.Minute, false}, {61 * time.Minute, true}, {2 * time.Hour, true},
	} {
		if got := RenewDue(id.Leaf, issued.Add(tc.at)); got != tc.want {
			t.Errorf("a 90-minute certificate %v after issue: due %v; want %v", tc.at, got, tc.want)
		}
	}
}

// A renewed certificate is what the identity's TLS configurations present
// from then on, on both sides of a handshake; the identity refuses one that
// is not its node's, role's, key's or CA's.
func TestRenew(t *testing.T) {
	c := newCluster(t)
	old := c.worker.Leaf
	renewed, err := c.ca.Issue("worker-1", RoleWorker, old.PublicKey, old.IPAddresses, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.worker.Renew(renewed); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	_, leaf := c.worker.Current()
	if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 || time.Until(leaf.NotAfter) > 2*time.Hour {
		t.Fatalf("current certificate: serial %v, expires %v; want the renewed one", leaf.SerialNumber, leaf.NotAfter)
	}
	ex := handshake(t, c.manager.ServerConfig(), c.worker.ClientConfig())
	wantOK(t, ex)
	if got := ex.server.PeerCertificates[0].SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("the worker presented serial %v; want the renewed %v", got, leaf.SerialNumber)
	}
	mgr, err := c.ca.Issue("manager-1", RoleManager, c.manager.Leaf.PublicKey, c.manager.Leaf.IPAddresses, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.manager.Renew(mgr); err != nil {
		t.Fatal(err)
	}
	_, mleaf := c.manager.Current()
	ex = handshake(t, c.manager.ServerConfig(), c.worker.ClientConfig())
	wantOK(t, ex)
	if got := ex.client.PeerCertificates[0].SerialNumber; got.Cmp(mleaf.SerialNumber) != 0 {
		t.Errorf("the manager presented serial %v; want the renewed %v", got, mleaf.SerialNumber)
	}

	other, _ := NewNodeKey()
	for name, pem := range map[string]func() ([]byte, error){
		"another node": func() ([]byte, error) { return c.ca.Issue("worker-2", RoleWorker, old.PublicKey, nil, time.Hour) },
		"another role": func() ([]byte, error) { return c.ca.Issue("worker-1", RoleManager, old.PublicKey, nil, time.Hour) },
		"another key":  func() ([]byte, error) { return c.ca.Issue("worker-1", RoleWorker, &other.PublicKey, nil, time.Hour) },
		"another CA": func() ([]byte, error) {
			return c.otherCA.Issue("worker-1", RoleWorker, old.PublicKey, []net.IP{net.IPv4(198, 18, 0, 1)}, time.Hour)
		},
	} {
		b, err := pem()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.worker.Renew(b); err == nil {
			t.Errorf("Renew with a certificate for %s: got no error; want one", name)
		}
		if _, now := c.worker.Current(); now.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Errorf("a refused renewal (%s) replaced the certificate", name)
		}
	}
	if _, err := c.ca.Issue("worker-1", RoleWorker, old.PublicKey, nil, 59*time.Second); err == nil {
		t.Error("Issue for 59 s: got no error; want the minimum validity refused")
	}
}
