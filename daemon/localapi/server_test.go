package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weftnet/weft/control/cluster"
	"github.com/weftnet/weft/daemon/api"
)

// netsAPI names Networks for embedding: its method Networks would clash
// with a field of that name.
type netsAPI = Networks

// fakeNetworks answers what the tests below ask; the embedded nil
// interface makes any other call panic, so a route that calls the wrong
// method fails its test.
type fakeNetworks struct {
	netsAPI
	created api.NetworkCreate
	err     error
}

func (f *fakeNetworks) CreateNetwork(_ context.Context, req api.NetworkCreate) (api.Network, error) {
	f.created = req
	return api.Network{Name: req.Name}, f.err
}

func (f *fakeNetworks) Network(_ context.Context, name string) (api.Network, error) {
	return api.Network{Name: name}, f.err
}

func (f *fakeNetworks) RemoveNetwork(context.Context, string) error { return f.err }

// serve sends one request to a Server over f and returns the status and
// the body.
func serve(f *fakeNetworks, method, target, body string) (int, string) {
	rec := httptest.NewRecorder()
	// The other rooms are there but answer nothing (a call panics).
	s := Server{Networks: f, Cluster: struct{ Cluster }{}, Diag: struct{ Diagnostics }{}}
	s.Handler().ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestRoutesReplyJSON(t *testing.T) {
	f := &fakeNetworks{}
	code, body := serve(f, "POST", "/v1/networks", `{"name":"blue"}`)
	if code != http.StatusCreated || f.created.Name != "blue" {
		t.Fatalf("create: %d %s, request %+v", code, body, f.created)
	}
	var n api.Network
	if err := json.Unmarshal([]byte(body), &n); err != nil || n.Name != "blue" {
		t.Fatalf("create reply %q: %v", body, err)
	}
	if code, body := serve(f, "GET", "/v1/networks/red", ""); code != http.StatusOK || !strings.Contains(body, `"red"`) {
		t.Fatalf("inspect: %d %s", code, body)
	}
	if code, body := serve(f, "DELETE", "/v1/networks/red", ""); code != http.StatusNoContent || body != "" {
		t.Fatalf("remove: %d %q", code, body)
	}
}

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{api.NotFound("network %q not found", "red"), http.StatusNotFound},
		{api.Conflict("in use"), http.StatusConflict},
		{&cluster.RefusedError{Status: http.StatusForbidden, Message: "workers may not"}, http.StatusForbidden},
		{errors.New("disk full"), http.StatusInternalServerError},
	} {
		code, body := serve(&fakeNetworks{err: tc.err}, "GET", "/v1/networks/red", "")
		var e api.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message != tc.err.Error() {
			t.Errorf("%v: body %q (%v)", tc.err, body, err)
		}
		if code != tc.want {
			t.Errorf("%v: status %d; want %d", tc.err, code, tc.want)
		}
	}
}

func TestBadBody(t *testing.T) {
	for _, body := range []string{`{"name":`, `{"name":"blue","vlan":7}`} {
		f := &fakeNetworks{}
		code, reply := serve(f, "POST", "/v1/networks", body)
		if code != http.StatusBadRequest || !strings.Contains(reply, "invalid request body") {
			t.Errorf("%s: %d %s", body, code, reply)
		}
		if f.created.Name != "" {
			t.Errorf("%s: created %+v from a bad body", body, f.created)
		}
	}
}
