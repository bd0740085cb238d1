package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/weftnet/weft/daemon/api"
)

// apiHandler routes the local API. Requests and responses are JSON; every
// error is an api.Error with a status that says whose fault it was.
func (d *Daemon) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		var req api.NetworkCreate
		if decode(w, r, &req) {
			n, err := d.CreateNetwork(req)
			reply(w, http.StatusCreated, n, err)
		}
	})
	mux.HandleFunc("GET /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, d.Networks(), nil)
	})
	mux.HandleFunc("GET /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		n, err := d.Network(r.PathValue("name"))
		reply(w, http.StatusOK, n, err)
	})
	mux.HandleFunc("DELETE /v1/networks/{name}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNoContent, nil, d.RemoveNetwork(r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/attach", func(w http.ResponseWriter, r *http.Request) {
		var req api.Attach
		if decode(w, r, &req) {
			ep, err := d.Attach(req)
			reply(w, http.StatusCreated, ep, err)
		}
	})
	mux.HandleFunc("POST /v1/detach", func(w http.ResponseWriter, r *http.Request) {
		var req api.Detach
		if decode(w, r, &req) {
			reply(w, http.StatusNoContent, nil, d.Detach(req))
		}
	})
	return mux
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
		if errors.As(err, &ie) {
			status = ie.status
		}
		v = api.Error{Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
