package capture

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weftnet/weft/daemon/api"
)

// TestLimit: no more than MaxLive captures run at once, and one more can
// start once one ended.
func TestLimit(t *testing.T) {
	s := &Server{Open: func(string) (Source, error) { return nil, errors.New("a refused capture was opened") }}
	var dones []func()
	for range MaxLive {
		_, done, err := s.start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	req := api.Capture{Network: "net1"}
	if err := Check(&req); err != nil {
		t.Fatal(err)
	}
	err := s.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), req, "wbr1")
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || !strings.Contains(se.Message, "captures are running") {
		t.Errorf("capture %d: got %v; want a 429 that says captures are running", MaxLive+1, err)
	}
	for _, done := range dones {
		done()
	}
	if _, done, err := s.start(context.Background()); err != nil {
		t.Errorf("after the others ended: %v", err)
	} else {
		done()
	}
}

// TestStopAllRefusesNew: after StopAll, a capture is refused with 503.
func TestStopAllRefusesNew(t *testing.T) {
	var s Server
	s.StopAll()
	_, _, err := s.start(context.Background())
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Errorf("a capture after StopAll: got %v; want a 503", err)
	}
}
