package dockersync

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serveEngine serves a Docker engine's API on a unix socket.
func serveEngine(t *testing.T, h http.Handler) *Client {
	path := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	c, err := NewClient("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClient(t *testing.T) {
	var created engineNetworkCreate
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.41/_ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
	mux.HandleFunc("GET /v1.41/networks", func(w http.ResponseWriter, r *http.Request) {
		if f := r.URL.Query().Get("filters"); f != `{"driver":{"weft":true}}` {
			t.Errorf("filters %q", f)
		}
		_, _ = w.Write([]byte(`[{"Id":"abc","Name":"test-net","Driver":"weft","Attachable":true,"IPAM":{"Driver":"weft","Config":[{"Subnet":"198.19.1.0/24"}]}}]`))
	})
	mux.HandleFunc("POST /v1.41/networks/create", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&created)
		_, _ = w.Write([]byte(`{"Id":"new1"}`))
	})
	mux.HandleFunc("DELETE /v1.41/networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"error while removing network: network ` + r.PathValue("id") + ` has active endpoints"}`))
	})
	c := serveEngine(t, mux)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	nets, err := c.Networks(ctx)
	if err != nil || len(nets) != 1 || nets[0].ID != "abc" || nets[0].IPAM.Config[0].Subnet != "198.19.1.0/24" || !nets[0].Attachable {
		t.Fatalf("Networks: %+v, %v", nets, err)
	}
	id, err := c.CreateNetwork(ctx, EngineNetwork{Name: "n", Driver: "weft"})
	if err != nil || id != "new1" || created.Name != "n" || !created.CheckDuplicate {
		t.Fatalf("CreateNetwork: %q, %v; sent %+v", id, err, created)
	}
	err = c.RemoveNetwork(ctx, "abc")
	if err == nil || !strings.Contains(err.Error(), "abc has active endpoints (status 403)") {
		t.Errorf("RemoveNetwork: %v; want the engine's message", err)
	}
}

func TestClientNoEngine(t *testing.T) {
	c, _ := NewClient("unix://" + filepath.Join(t.TempDir(), "none.sock"))
	err := c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "docker engine at unix://") {
		t.Errorf("Ping of no engine: %v", err)
	}
}
