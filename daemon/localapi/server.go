package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
)

// apiHandler routes the local API. Requests and responses are JSON; every
// error is an api.Error with a status that says whose fault it was.
func (d *Daemon) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/networks", post(http.StatusCreated, func(ctx context.Context, req api.NetworkCreate) (any, error) {
		return d.CreateNetwork(ctx, req)
	}))
	mux.HandleFunc("GET /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		ns, err := d.Networks(r.Context())
		reply(w, http.StatusOK, ns, err)
	})
	mux.HandleFunc("GET /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		n, err := d.Network(r.Context(), r.PathValue("name"))
		reply(w, http.StatusOK, n, err)
	})
	mux.HandleFunc("GET /v1/networks/{name}/keys", func(w http.ResponseWriter, r *http.Request) {
		sas, err := d.NetworkKeys(r.PathValue("name"))
		reply(w, http.StatusOK, sas, err)
	})
	mux.HandleFunc("DELETE /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, d.RemoveNetwork(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/attach", post(http.StatusCreated, func(ctx context.Context, req api.Attach) (any, error) {
		return d.Attach(ctx, req)
	}))
	mux.HandleFunc("POST /v1/detach", post(http.StatusNoContent, func(_ context.Context, req api.Detach) (any, error) {
		return nil, d.Detach(req)
	}))
	d.clusterRoutes(mux)
	d.diagRoutes(mux)
	return mux
}

// diagRoutes adds the diagnostics: peers, the forwarding database, one
// node in detail, the daemon's version, and packet capture.
func (d *Daemon) diagRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/peers", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, d.Peers(), nil)
	})
	mux.HandleFunc("GET /v1/fdb", func(w http.ResponseWriter, r *http.Request) {
		tables, err := d.FDB(r.Context(), r.URL.Query().Get("network"))
		reply(w, http.StatusOK, tables, err)
	})
	mux.HandleFunc("GET /v1/nodes/{ref}", func(w http.ResponseWriter, r *http.Request) {
		info, err := d.NodeInfo(r.Context(), r.PathValue("ref"))
		reply(w, http.StatusOK, info, err)
	})
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, api.ThisBuild(), nil)
	})
	mux.HandleFunc("POST /v1/debug/capture", d.serveCapture)
}

// clusterRoutes adds the cluster and node operations.
func (d *Daemon) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/cluster/init", post(http.StatusOK, func(ctx context.Context, req api.ClusterInit) (any, error) {
		return d.ClusterInit(ctx, req)
	}))
	mux.HandleFunc("POST /v1/cluster/join", post(http.StatusOK, func(ctx context.Context, req api.ClusterJoin) (any, error) {
		return d.ClusterJoin(ctx, req)
	}))
	mux.HandleFunc("POST /v1/cluster/leave", post(http.StatusNoContent, func(ctx context.Context, req api.ClusterLeave) (any, error) {
		return nil, d.ClusterLeave(ctx, req)
	}))
	mux.HandleFunc("POST /v1/cluster/join-token", post(http.StatusOK, func(ctx context.Context, req api.JoinToken) (any, error) {
		return d.JoinToken(ctx, req)
	}))
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		nodes, err := d.Nodes(r.Context())
		reply(w, http.StatusOK, nodes, err)
	})
	mux.HandleFunc("DELETE /v1/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, d.RemoveNode(r.Context(), r.PathValue("id"), r.URL.Query().Get("force") != ""))
	})
}

// post serves a route whose request is a JSON body: fn gets the decoded
// body and its result is the reply, with status on success.
func post[T any](status int, fn func(context.Context, T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if decode(w, r, &req) {
			v, err := fn(r.Context(), req)
			if status == http.StatusNoContent {
				v = nil
			}
			reply(w, status, v, err)
		}
	}
}

// decode reads a JSON request body into v; on failure it answers 400 and
// reports false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		reply(w, 0, nil, badRequest("invalid request body: %v", err))
		return false
	}
	return true
}

// reply writes v with status, or err as an api.Error.
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
