package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Peers lists the VTEPs this node knows, sorted by address.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	return out, c.do(ctx, http.MethodGet, "/v1/peers", nil, &out)
}

// FDB returns the forwarding database of one network, or with network ""
// of every network of this node, sorted by network name.
func (c *Client) FDB(ctx context.Context, network string) ([]FDB, error) {
	path := "/v1/fdb"
	if network != "" {
		path += "?" + url.Values{"network": {network}}.Encode()
	}
	var out []FDB
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Node describes one node: "self" is the node that answers; otherwise a
// node ID, a unique prefix of one, or a unique hostname.
func (c *Client) Node(ctx context.Context, ref string) (NodeInfo, error) {
	var out NodeInfo
	return out, c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(ref), nil, &out)
}

// Version describes the daemon's build.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var out Version
	return out, c.do(ctx, http.MethodGet, "/v1/version", nil, &out)
}

// Capture starts a capture and returns its pcap stream once weftd has
// started capturing. Only ctx bounds the stream (the client's usual
// timeout does not), and cancelling it ends the capture. The caller must
// close the stream.
func (c *Client) Capture(ctx context.Context, req Capture) (*CaptureStream, error) {
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := c.send(ctx, hc, http.MethodPost, "/v1/debug/capture", req) //nolint:bodyclose // the stream owns the body; its Close closes it
	if err != nil {
		return nil, err
	}
	return &CaptureStream{resp: resp}, nil
}

// CaptureStream is a capture's pcap file as weftd writes it: a pcap
// header, then one record per frame.
type CaptureStream struct {
	resp *http.Response
	done bool // the body was read to its end
}

// Read reads the pcap stream; it returns io.EOF once weftd ended the
// capture.
func (s *CaptureStream) Read(p []byte) (int, error) {
	n, err := s.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		s.done = true
	}
	return n, err
}

// Close ends the stream, and with it the capture if it is still running.
func (s *CaptureStream) Close() error { return s.resp.Body.Close() }

// Result reports how the capture went. It is known only once Read has
// returned io.EOF; before that, ok is false.
func (s *CaptureStream) Result() (res CaptureResult, ok bool) {
	if !s.done {
		return res, false
	}
	t := s.resp.Trailer
	res.Packets, _ = strconv.Atoi(t.Get(TrailerCapturePackets))
	res.Dropped, _ = strconv.Atoi(t.Get(TrailerCaptureDropped))
	if msg := t.Get(TrailerCaptureError); msg != "" {
		res.Err = errors.New(msg)
	}
	return res, true
}
