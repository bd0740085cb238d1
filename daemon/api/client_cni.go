package api

import (
	"context"
	"net/http"
)

// publishingAttach is an Attach with the ports to publish. It is sent by
// AttachPublishing until Attach carries them itself.
type publishingAttach struct {
	Attach
	Publish []string `json:"Publish,omitempty"` // "HOSTPORT:PORT[/tcp|udp]"
}

// AttachPublishing attaches as Attach does, asking weftd also to publish
// the container's ports (HOSTPORT:PORT[/tcp|udp]). A weftd that cannot
// publish refuses a request with ports; one without is an Attach.
func (c *Client) AttachPublishing(ctx context.Context, req Attach, publish []string) (Endpoint, error) {
	var ep Endpoint
	return ep, c.do(ctx, http.MethodPost, "/v1/attach", publishingAttach{Attach: req, Publish: publish}, &ep)
}
