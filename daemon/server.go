package daemon

import (
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
	mux.HandleFunc("POST /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		var req api.NetworkCreate
		if decode(w, r, &req) {
			n, err := d.CreateNetwork(r.Context(), req)
			reply(w, http.StatusCreated, n, err)
		}
	})
	mux.HandleFunc("GET /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		ns, err := d.Networks(r.Context())
		reply(w, http.StatusOK, ns, err)
	})
	mux.HandleFunc("GET /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		n, err := d.Network(r.Context(), r.PathValue("name"))
		reply(w, http.StatusOK, n, err)
	})
	mux.HandleFunc("DELETE /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, d.RemoveNetwork(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/attach", func(w http.ResponseWriter, r *http.Request) {
		var req api.Attach
		if decode(w, r, &req) {
			ep, err := d.Attach(r.Context(), req)
			reply(w, http.StatusCreated, ep, err)
		}
	})
	mux.HandleFunc("POST /v1/detach", func(w http.ResponseWriter, r *http.Request) {
		var req api.Detach
		if decode(w, r, &req) {
			reply(w, http.StatusNoContent, nil, d.Detach(req))
		}
	})
	d.clusterRoutes(mux)
	return mux
}

// clusterRoutes adds the cluster and node operations.
func (d *Daemon) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/cluster/init", func(w http.ResponseWriter, r *http.Request) {
		var req api.ClusterInit
		if decode(w, r, &req) {
			info, err := d.ClusterInit(r.Context(), req)
			reply(w, http.StatusOK, info, err)
		}
	})
	mux.HandleFunc("POST /v1/cluster/join", func(w http.ResponseWriter, r *http.Request) {
		var req api.ClusterJoin
		if decode(w, r, &req) {
			info, err := d.ClusterJoin(r.Context(), req)
			reply(w, http.StatusOK, info, err)
		}
	})
	mux.HandleFunc("POST /v1/cluster/leave", func(w http.ResponseWriter, r *http.Request) {
		var req api.ClusterLeave
		if decode(w, r, &req) {
			reply(w, http.StatusNoContent, nil, d.ClusterLeave(req))
		}
	})
	mux.HandleFunc("POST /v1/cluster/join-token", func(w http.ResponseWriter, r *http.Request) {
		var req api.JoinToken
		if decode(w, r, &req) {
			tok, err := d.JoinToken(r.Context(), req)
			reply(w, http.StatusOK, tok, err)
		}
	})
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		nodes, err := d.Nodes(r.Context())
		reply(w, http.StatusOK, nodes, err)
	})
	mux.HandleFunc("DELETE /v1/nodes/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, d.RemoveNode(r.Context(), r.PathValue("id"), r.URL.Query().Get("force") != ""))
	})
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
		var ie *inputError
		var refused *cluster.RefusedError
		switch {
		case errors.As(err, &ie):
			status = ie.status
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
