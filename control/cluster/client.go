package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// requestTimeout bounds one call to a manager.
const requestTimeout = 15 * time.Second

// Client calls the manager API with this node's certificate. Any manager
// answers: followers forward writes to the leader.
type Client struct {
	http *http.Client
	only string // set by At: the one manager asked

	mu       sync.Mutex
	managers []string // 2377 addresses, the last one that answered first
}

// NewClient returns a client that presents cfg's certificate to managers.
func NewClient(cfg *tls.Config, managers []string) *Client {
	return &Client{http: httpClient(cfg), managers: append([]string(nil), managers...)}
}

// At returns a client that asks only the manager at addr, with c's
// certificate: for a node that must reach the manager that admitted it.
func (c *Client) At(addr string) *Client {
	return &Client{http: c.http, only: addr}
}

func httpClient(cfg *tls.Config) *http.Client {
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialTagged(ctx, addr, cfg, tagAPI, handshakeTimeout)
	}
	return &http.Client{Transport: &http.Transport{DialTLSContext: dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: clientIdleTimeout}, Timeout: requestTimeout}
}

// SetManagers replaces the managers the client tries.
func (c *Client) SetManagers(addrs []string) {
	c.mu.Lock()
	c.managers = append([]string(nil), addrs...)
	c.mu.Unlock()
}

// Managers returns the managers the client tries, in order.
func (c *Client) Managers() []string {
	if c.only != "" {
		return []string{c.only}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.managers...)
}

// Apply sends a command to the leader through a manager and decodes its
// result into out (may be nil).
func (c *Client) Apply(ctx context.Context, cmd store.Command, out any) error {
	return c.do(ctx, http.MethodPost, pathApply, cmd, out)
}

// State fetches the cluster state as the leader has it (see
// Manager.State). A worker gets it without the join secrets and without
// the data keys of the networks it has no address on.
func (c *Client) State(ctx context.Context) (*store.State, error) {
	st := store.NewState()
	if err := c.do(ctx, http.MethodGet, pathState, nil, st); err != nil {
		return nil, err
	}
	return st, nil
}

// Renew asks a manager for a new certificate for this node, for the key it
// has (the one its current certificate names).
func (c *Client) Renew(ctx context.Context) ([]byte, error) {
	var r RenewResponse
	return r.CertPEM, c.do(ctx, http.MethodPost, pathRenew, struct{}{}, &r)
}

// Leader asks a manager which manager leads.
func (c *Client) Leader(ctx context.Context) (Leader, error) {
	var l Leader
	return l, c.do(ctx, http.MethodGet, pathLeader, nil, &l)
}

// AddVoter makes the manager nodeID, reached at addr, a raft voter. Only
// managers may ask.
func (c *Client) AddVoter(ctx context.Context, nodeID, addr string) error {
	return c.do(ctx, http.MethodPost, pathVoter, VoterRequest{NodeID: nodeID, Addr: addr}, nil)
}

// RemoveVoter takes the manager nodeID out of raft. Only managers may ask.
func (c *Client) RemoveVoter(ctx context.Context, nodeID string) error {
	return c.do(ctx, http.MethodPost, pathVoterRemove, VoterRequest{NodeID: nodeID}, nil)
}

// do sends a request to the first manager that answers. An error that the
// manager returned (a refused command) is not retried elsewhere.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if c.only != "" {
		return call(ctx, c.http, method, c.only, path, in, out)
	}
	var errs []error
	for _, addr := range c.Managers() {
		err := call(ctx, c.http, method, addr, path, in, out)
		var refused *RefusedError
		if err == nil || errors.As(err, &refused) {
			if err == nil {
				c.preferManager(addr)
			}
			return err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("no manager known")
	}
	return fmt.Errorf("no manager answered: %w", errors.Join(errs...))
}

func (c *Client) preferManager(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.managers {
		if m == addr && i > 0 {
			c.managers[0], c.managers[i] = c.managers[i], c.managers[0]
		}
	}
}

// RefusedError is a manager's answer that the request is wrong; asking
// another manager would not help.
type RefusedError struct {
	Status  int
	Message string
}

func (e *RefusedError) Error() string { return e.Message }

func call(ctx context.Context, hc *http.Client, method, addr, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			e.Message = resp.Status
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			return fmt.Errorf("%s: %s", addr, e.Message) // no leader there yet: try another
		}
		return &RefusedError{resp.StatusCode, e.Message}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Admit asks the manager at addr to admit this node. It checks that the
// manager's CA is the one the token names before it sends the secret.
func Admit(ctx context.Context, addr string, token pki.Token, req AdmitRequest) (AdmitResponse, error) {
	hc := httpClient(pki.JoinClientConfig(token.Fingerprint))
	req.Secret = token.Secret
	var resp AdmitResponse
	err := call(ctx, hc, http.MethodPost, addr, pathJoin, req, &resp)
	return resp, err
}
