package dockersync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// APIVersion is the Docker Engine API version weftd speaks: Docker 20.10's.
const APIVersion = "v1.41"

// EngineNetwork is a Docker network, as the engine's API shows it.
type EngineNetwork struct {
	ID         string `json:"Id"`
	Name       string
	Driver     string
	Internal   bool
	Attachable bool
	IPAM       EngineIPAM
	Options    map[string]string
}

// EngineIPAM is a Docker network's address configuration.
type EngineIPAM struct {
	Driver  string
	Config  []EngineIPAMConfig
	Options map[string]string
}

// EngineIPAMConfig is one pool of a Docker network.
type EngineIPAMConfig struct {
	Subnet  string
	IPRange string `json:",omitempty"`
	Gateway string `json:",omitempty"`
}

// engineNetworkCreate is the body of POST /networks/create.
type engineNetworkCreate struct {
	Name           string
	CheckDuplicate bool
	Driver         string
	Internal       bool
	Attachable     bool
	IPAM           EngineIPAM
	Options        map[string]string
}

// Client talks to a Docker engine over its unix socket.
type Client struct {
	http *http.Client
	host string // what the user gave, for messages
}

// NewClient returns a client of the engine at host, a unix:// URL.
func NewClient(host string) (*Client, error) {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok || path == "" {
		return nil, fmt.Errorf("docker host %q: only unix:// sockets are supported, e.g. unix:///var/run/docker.sock", host)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return &Client{host: host, http: &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 30 * time.Second}}, nil
}

// Ping checks that the engine answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/_ping", nil, nil)
}

// Networks lists the engine's networks of driver weft.
func (c *Client) Networks(ctx context.Context) ([]EngineNetwork, error) {
	f := url.QueryEscape(`{"driver":{"weft":true}}`)
	var out []EngineNetwork
	err := c.do(ctx, http.MethodGet, "/networks?filters="+f, nil, &out)
	return out, err
}

// CreateNetwork creates a network and returns its ID.
func (c *Client) CreateNetwork(ctx context.Context, n EngineNetwork) (string, error) {
	req := engineNetworkCreate{Name: n.Name, CheckDuplicate: true, Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable, IPAM: n.IPAM, Options: n.Options}
	var out struct {
		ID string `json:"Id"`
	}
	err := c.do(ctx, http.MethodPost, "/networks/create", req, &out)
	return out.ID, err
}

// RemoveNetwork removes a network.
func (c *Client) RemoveNetwork(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(id), nil, nil)
}

// do makes one call; a status over 299 is an error with the engine's
// message.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker/"+APIVersion+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("docker engine at %s: %w", c.host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("docker engine at %s: %s %s: %w", c.host, method, path, err)
	}
	if resp.StatusCode > 299 {
		var e struct{ Message string }
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("docker engine: %s %s: %s (status %d)", method, path, e.Message, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("docker engine: %s %s: %w", method, path, err)
	}
	return nil
}
