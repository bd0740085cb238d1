package cniplugin

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/weftnet/weft/daemon/api"
)

// fakeWeftd answers the part of weftd's API the plugin uses, for one
// network, on a unix socket.
type fakeWeftd struct {
	socket string

	mu       sync.Mutex
	net      api.Network // its Containers are the attachments, by endpoint ID
	attaches []map[string]any
	refuse   *api.StatusError // the answer to every attach, if set
	lose     bool             // attach, then close the connection without an answer
	next     int
}

func newFakeWeftd(t *testing.T, n api.Network) *fakeWeftd {
	t.Helper()
	f := &fakeWeftd{socket: filepath.Join(t.TempDir(), "weft.sock"), net: n}
	f.net.Containers = map[string]api.Endpoint{}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/networks/{name}", f.network)
	mux.HandleFunc("POST /v1/attach", f.attach)
	mux.HandleFunc("POST /v1/detach", f.detach)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeWeftd) network(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PathValue("name") != f.net.Name {
		reply(w, http.StatusNotFound, api.Error{Message: "network " + r.PathValue("name") + " not found"})
		return
	}
	reply(w, http.StatusOK, f.net)
}

func (f *fakeWeftd) attach(w http.ResponseWriter, r *http.Request) {
	var req api.Attach
	var raw map[string]any
	body := json.NewDecoder(r.Body)
	if err := body.Decode(&raw); err != nil {
		reply(w, http.StatusBadRequest, api.Error{Message: err.Error()})
		return
	}
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attaches = append(f.attaches, raw)
	if f.refuse != nil {
		reply(w, f.refuse.Status, api.Error{Message: f.refuse.Message})
		return
	}
	f.next++
	ep := api.Endpoint{
		Name: req.Name, EndpointID: fmt.Sprintf("ep%d", f.next), Netns: req.Netns, ContainerID: req.ContainerID,
		MacAddress: fmt.Sprintf("02:00:00:00:00:%02x", f.next), IPv4Address: fmt.Sprintf("198.19.7.%d/24", 10+f.next),
		Interface: req.IfName, Resolver: "127.0.0.11",
	}
	f.net.Containers[ep.EndpointID] = ep
	if f.lose {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	reply(w, http.StatusCreated, ep)
}

func (f *fakeWeftd) detach(w http.ResponseWriter, r *http.Request) {
	var req api.Detach
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ep := range f.net.Containers {
		if req.Network == f.net.Name && ep.ContainerID == req.ContainerID && req.ContainerID != "" {
			delete(f.net.Containers, id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	reply(w, http.StatusNotFound, api.Error{Message: "container " + req.ContainerID + " is not attached"})
}

// attached returns the container IDs attached now.
func (f *fakeWeftd) attached() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, ep := range f.net.Containers {
		out[ep.ContainerID] = true
	}
	return out
}
