package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Client talks to one weftd over its API socket.
type Client struct {
	host string
	http *http.Client
}

// NewClient returns a client for host, a URL of the form unix:///PATH.
func NewClient(host string) (*Client, error) {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok || path == "" {
		return nil, fmt.Errorf("invalid daemon address %q: want unix:///PATH", host)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return &Client{host: host, http: &http.Client{
		Transport: &http.Transport{DialContext: dial},
		Timeout:   60 * time.Second,
	}}, nil
}

// CreateNetwork creates a network and returns it.
func (c *Client) CreateNetwork(ctx context.Context, req NetworkCreate) (Network, error) {
	var n Network
	return n, c.do(ctx, http.MethodPost, "/v1/networks", req, &n)
}

// Networks lists the networks, by name.
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	var ns []Network
	return ns, c.do(ctx, http.MethodGet, "/v1/networks", nil, &ns)
}

// Network returns one network by name.
func (c *Client) Network(ctx context.Context, name string) (Network, error) {
	var n Network
	return n, c.do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(name), nil, &n)
}

// NetworkKeys returns the live SAs of an encrypted network on this node,
// keys included.
func (c *Client) NetworkKeys(ctx context.Context, name string) ([]SA, error) {
	var sas []SA
	return sas, c.do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(name)+"/keys", nil, &sas)
}

// RemoveNetwork removes a network that has no endpoints.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/networks/"+url.PathEscape(name), nil, nil)
}

// Attach attaches a namespace to a network and returns the endpoint.
func (c *Client) Attach(ctx context.Context, req Attach) (Endpoint, error) {
	var ep Endpoint
	return ep, c.do(ctx, http.MethodPost, "/v1/attach", req, &ep)
}

// Detach takes a namespace off a network.
func (c *Client) Detach(ctx context.Context, req Detach) error {
	return c.do(ctx, http.MethodPost, "/v1/detach", req, nil)
}

// ClusterInit makes this node the first manager of a new cluster.
func (c *Client) ClusterInit(ctx context.Context, req ClusterInit) (ClusterInfo, error) {
	var out ClusterInfo
	return out, c.do(ctx, http.MethodPost, "/v1/cluster/init", req, &out)
}

// ClusterUpdate changes the cluster's settings.
func (c *Client) ClusterUpdate(ctx context.Context, req ClusterUpdate) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/update", req, nil)
}

// ClusterJoin joins a cluster.
func (c *Client) ClusterJoin(ctx context.Context, req ClusterJoin) (ClusterInfo, error) {
	var out ClusterInfo
	return out, c.do(ctx, http.MethodPost, "/v1/cluster/join", req, &out)
}

// ClusterLeave leaves the cluster.
func (c *Client) ClusterLeave(ctx context.Context, req ClusterLeave) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/leave", req, nil)
}

// JoinToken returns, or rotates and returns, a role's join token.
func (c *Client) JoinToken(ctx context.Context, req JoinToken) (JoinToken, error) {
	var out JoinToken
	return out, c.do(ctx, http.MethodPost, "/v1/cluster/join-token", req, &out)
}

// Nodes lists the cluster's nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	return out, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &out)
}

// RemoveNode removes a node from the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) error {
	q := ""
	if force {
		q = "?force=1"
	}
	return c.do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(id)+q, nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, c.http, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes a request with hc and returns the response of a request that
// succeeded, whose body the caller must close; a failed request's body is
// turned into the error.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://weftd"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, notRunningError{host: c.host}
		}
		return nil, fmt.Errorf("talking to weftd at %s: %w", c.host, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
			e.Message = resp.Status
		}
		return nil, &StatusError{Status: resp.StatusCode, Message: e.Message}
	}
	return resp, nil
}
