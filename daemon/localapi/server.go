// Package localapi serves the local API the CLI talks to over weftd's unix
// socket: its routes, JSON bodies, and errors with the HTTP status that
// says whose fault they were.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/capture"
)

// Networks is what the API does with networks and attachments.
type Networks interface {
	CreateNetwork(ctx context.Context, req api.NetworkCreate) (api.Network, error)
	Networks(ctx context.Context) ([]api.Network, error)
	Network(ctx context.Context, name string) (api.Network, error)
	NetworkKeys(name string) ([]api.SA, error)
	RemoveNetwork(ctx context.Context, name string) error
	Attach(ctx context.Context, req api.Attach) (api.Endpoint, error)
	Detach(req api.Detach) error
	// Bridge returns the bridge of a network on this node, where its
	// frames are captured.
	Bridge(ctx context.Context, network string) (string, error)
}

// Cluster is what the API does with the cluster.
type Cluster interface {
	Init(ctx context.Context, req api.ClusterInit) (api.ClusterInfo, error)
	Join(ctx context.Context, req api.ClusterJoin) (api.ClusterInfo, error)
	Leave(ctx context.Context, req api.ClusterLeave) error
	JoinToken(ctx context.Context, req api.JoinToken) (api.JoinToken, error)
	Update(ctx context.Context, req api.ClusterUpdate) error
	RemoveNode(ctx context.Context, id string, force bool) error
}

// Diagnostics is what the API shows of this node and its cluster.
type Diagnostics interface {
	Peers() []api.Peer
	FDB(ctx context.Context, network string) ([]api.FDB, error)
	Nodes(ctx context.Context) ([]api.Node, error)
	NodeInfo(ctx context.Context, ref string) (api.NodeInfo, error)
}

// Server is the local API over the rooms that do its work.
type Server struct {
	Networks Networks
	Cluster  Cluster
	Diag     Diagnostics
	Captures *capture.Server
}

// Handler routes the local API. Requests and responses are JSON; every
// error is an api.Error with a status that says whose fault it was
// (api.StatusError's, a manager's refusal's, or 500).
func (s Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.networkRoutes(mux)
	s.clusterRoutes(mux)
	s.diagRoutes(mux)
	return mux
}

// networkRoutes adds the operations on networks and attachments.
func (s Server) networkRoutes(mux *http.ServeMux) {
	n := s.Networks
	mux.HandleFunc("POST /v1/networks", post(http.StatusCreated, n.CreateNetwork))
	mux.HandleFunc("GET /v1/networks", get(func(r *http.Request) (any, error) { return n.Networks(r.Context()) }))
	mux.HandleFunc("GET /v1/networks/{name}", get(func(r *http.Request) (any, error) {
		return n.Network(r.Context(), r.PathValue("name"))
	}))
	mux.HandleFunc("GET /v1/networks/{name}/keys", get(func(r *http.Request) (any, error) {
		return n.NetworkKeys(r.PathValue("name"))
	}))
	mux.HandleFunc("DELETE /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, n.RemoveNetwork(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/attach", post(http.StatusCreated, n.Attach))
	mux.HandleFunc("POST /v1/detach", post(http.StatusNoContent, func(_ context.Context, req api.Detach) (any, error) {
		return nil, n.Detach(req)
	}))
}

// clusterRoutes adds the cluster and node operations.
func (s Server) clusterRoutes(mux *http.ServeMux) {
	c := s.Cluster
	mux.HandleFunc("POST /v1/cluster/init", post(http.StatusOK, c.Init))
	mux.HandleFunc("POST /v1/cluster/join", post(http.StatusOK, c.Join))
	mux.HandleFunc("POST /v1/cluster/leave", post(http.StatusNoContent, func(ctx context.Context, req api.ClusterLeave) (any, error) {
		return nil, c.Leave(ctx, req)
	}))
	mux.HandleFunc("POST /v1/cluster/join-token", post(http.StatusOK, c.JoinToken))
	mux.HandleFunc("POST /v1/cluster/update", post(http.StatusNoContent, func(ctx context.Context, req api.ClusterUpdate) (any, error) {
		return nil, c.Update(ctx, req)
	}))
	mux.HandleFunc("GET /v1/nodes", get(func(r *http.Request) (any, error) { return s.Diag.Nodes(r.Context()) }))
	mux.HandleFunc("DELETE /v1/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, c.RemoveNode(r.Context(), r.PathValue("id"), r.URL.Query().Get("force") != ""))
	})
}

// diagRoutes adds the diagnostics: peers, the forwarding database, one
// node in detail, the daemon's version, and packet capture.
func (s Server) diagRoutes(mux *http.ServeMux) {
	d := s.Diag
	mux.HandleFunc("GET /v1/peers", get(func(*http.Request) (any, error) { return d.Peers(), nil }))
	mux.HandleFunc("GET /v1/fdb", get(func(r *http.Request) (any, error) {
		return d.FDB(r.Context(), r.URL.Query().Get("network"))
	}))
	mux.HandleFunc("GET /v1/nodes/{ref}", get(func(r *http.Request) (any, error) {
		return d.NodeInfo(r.Context(), r.PathValue("ref"))
	}))
	mux.HandleFunc("GET /v1/version", get(func(*http.Request) (any, error) { return api.ThisBuild(), nil }))
	mux.HandleFunc("POST /v1/debug/capture", s.capture)
}

// capture streams a pcap of one network's inner Ethernet frames, as its
// bridge on this node sees them (see capture.Server.Serve).
func (s Server) capture(w http.ResponseWriter, r *http.Request) {
	var req api.Capture
	if !decode(w, r, &req) {
		return
	}
	err := capture.Check(&req)
	var bridge string
	if err == nil {
		bridge, err = s.Networks.Bridge(r.Context(), req.Network)
	}
	if err == nil {
		err = s.Captures.Serve(w, r, req, bridge)
	}
	if err != nil {
		reply(w, 0, nil, err)
	}
}

// get serves a route whose reply is fn's result, 200 on success.
func get[T any](fn func(*http.Request) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		reply(w, http.StatusOK, v, err)
	}
}

// post serves a route whose request is a JSON body: fn gets the decoded
// body and its result is the reply, with status on success.
func post[T, R any](status int, fn func(context.Context, T) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !decode(w, r, &req) {
			return
		}
		res, err := fn(r.Context(), req)
		var v any = res
		if status == http.StatusNoContent {
			v = nil
		}
		reply(w, status, v, err)
	}
}

// decode reads a JSON request body into v; on failure it answers 400 and
// reports false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, 0, nil, api.BadRequest("invalid request body: %v", err))
		return false
	}
	return true
}

// reply writes v with status, or err as an api.Error with the status its
// kind calls for.
func reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		status = http.StatusInternalServerError
		var se *api.StatusError
		var refused *cluster.RefusedError
		switch {
		case errors.As(err, &se):
			status = se.Status
		case errors.As(err, &refused):
			status = refused.Status
		}
		v = api.Error{Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
