package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/weftnet/weft/daemon/api"
	"github.com/weftnet/weft/daemon/capture"
)

// fakeSource is a capture.Source that hands out queued frames and honours
// its deadline as a socket does.
type fakeSource struct {
	frames chan []byte

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline changes
	closed   chan struct{} // closed by Close; a second Close panics
}

var _ capture.Source = (*fakeSource)(nil)

func newFakeSource(frames ...[]byte) *fakeSource {
	f := &fakeSource{frames: make(chan []byte, len(frames)+16), changed: make(chan struct{}), closed: make(chan struct{})}
	for _, b := range frames {
		f.frames <- b
	}
	return f
}

func (f *fakeSource) ReadPacket(buf []byte) (gopacket.CaptureInfo, error) {
	for {
		f.mu.Lock()
		dl, changed := f.deadline, f.changed
		f.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			wait := time.Until(dl)
			if wait <= 0 {
				return gopacket.CaptureInfo{}, os.ErrDeadlineExceeded
			}
			timer := time.NewTimer(wait)
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case b := <-f.frames:
			n := copy(buf, b)
			return gopacket.CaptureInfo{Timestamp: time.Now(), Length: len(b), CaptureLength: n}, nil
		case <-changed:
		case <-expired:
		}
	}
}

func (f *fakeSource) SetDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

func (f *fakeSource) Dropped() uint64 { return 2 }

func (f *fakeSource) Close() error {
	close(f.closed)
	return nil
}

// waitClosed fails the test unless the capture closes its source soon.
func (f *fakeSource) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-f.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the capture's source is still open 5 s after the capture should have ended")
	}
}

// useSource makes every capture of d open src, and returns the interface
// it was last opened on.
func useSource(d *Daemon, src capture.Source, err error) func() string {
	var mu sync.Mutex
	opened := ""
	d.captures.Open = func(ifname string) (capture.Source, error) {
		mu.Lock()
		defer mu.Unlock()
		opened = ifname
		return src, err
	}
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return opened
	}
}

// bounded returns a context that ends a capture that should have ended by
// itself well before, so that a broken capture fails its test instead of
// hanging it.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// frame returns a distinct Ethernet frame.
func frame(i int) []byte {
	b := make([]byte, 60)
	copy(b, []byte{0x02, 0, 0, 0, 0, byte(i), 0x02, 0, 0, 0, 0, 0xee, 0x08, 0x00})
	b[20] = byte(i)
	return b
}

// readCapture reads a whole capture stream and returns its frames.
func readCapture(t *testing.T, s *api.CaptureStream) [][]byte {
	t.Helper()
	r, err := pcapgo.NewReader(s)
	if err != nil {
		t.Fatalf("pcap header: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type: got %v; want Ethernet", r.LinkType())
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		out = append(out, data)
	}
}

func TestCaptureStopsAtCount(t *testing.T) {
	src := newFakeSource(frame(1), frame(2), frame(3), frame(4), frame(5))
	d := diagDaemon(t)
	opened := useSource(d, src, nil)
	s, err := serveAPI(t, d).Capture(bounded(t), api.Capture{Network: "net1", Count: 3, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := readCapture(t, s)
	if len(got) != 3 {
		t.Fatalf("got %d frames; want 3", len(got))
	}
	for i, b := range got {
		if !bytes.Equal(b, frame(i+1)) {
			t.Errorf("frame %d: got % x; want % x", i, b, frame(i+1))
		}
	}
	res, ok := s.Result()
	if !ok || res.Packets != 3 || res.Dropped != 2 || res.Err != nil {
		t.Errorf("result: got %+v, %v; want 3 packets, 2 dropped, no error", res, ok)
	}
	if got := opened(); got != "wbr171" {
		t.Errorf("captured on %q; want net1's bridge wbr171", got)
	}
	src.waitClosed(t)
}

func TestCaptureStopsAtDuration(t *testing.T) {
	src := newFakeSource()
	d := diagDaemon(t)
	useSource(d, src, nil)
	start := time.Now()
	s, err := serveAPI(t, d).Capture(bounded(t), api.Capture{Network: "net2", Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readCapture(t, s); len(got) != 0 {
		t.Errorf("got %d frames; want none", len(got))
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("a 300 ms capture took %v", took)
	}
	if res, ok := s.Result(); !ok || res.Packets != 0 || res.Err != nil {
		t.Errorf("result: got %+v, %v; want 0 packets, no error", res, ok)
	}
	src.waitClosed(t)
}

func TestCaptureStopsWhenClientLeaves(t *testing.T) {
	src := newFakeSource(frame(1))
	d := diagDaemon(t)
	useSource(d, src, nil)
	ctx, cancel := context.WithCancel(bounded(t))
	defer cancel()
	s, err := serveAPI(t, d).Capture(ctx, api.Capture{Network: "net1", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ReadPacketData(); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	cancel()
	s.Close()
	src.waitClosed(t)
}

func TestCaptureStopsOnShutdown(t *testing.T) {
	src := newFakeSource(frame(1))
	d := diagDaemon(t)
	useSource(d, src, nil)
	cl := serveAPI(t, d)
	s, err := cl.Capture(bounded(t), api.Capture{Network: "net1", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := pcapgo.NewReader(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ReadPacketData(); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	d.captures.StopAll()
	if _, _, err := r.ReadPacketData(); !errors.Is(err, io.EOF) {
		t.Fatalf("after shutdown: got %v; want the end of the stream", err)
	}
	if res, ok := s.Result(); !ok || res.Packets != 1 || res.Err == nil || !strings.Contains(res.Err.Error(), "shutting down") {
		t.Errorf("result: got %+v, %v; want 1 packet and a shutdown error", res, ok)
	}
	src.waitClosed(t)
	if _, err := cl.Capture(bounded(t), api.Capture{Network: "net1"}); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("a capture after shutdown: got %v; want refused", err)
	}
}

func TestCaptureRefused(t *testing.T) {
	d := diagDaemon(t)
	cases := []struct {
		name, body string
		openErr    error
		status     int
		msg        string
	}{
		{"unknown network", `{"Network":"nosuch"}`, nil, http.StatusNotFound, "network nosuch not found"},
		{"no network", `{}`, nil, http.StatusBadRequest, "needs a network"},
		{"negative count", `{"Network":"net1","Count":-1}`, nil, http.StatusBadRequest, "invalid count -1"},
		{"count too big", `{"Network":"net1","Count":1000001}`, nil, http.StatusBadRequest, "invalid count"},
		{"duration too long", `{"Network":"net1","Duration":3600000000001}`, nil, http.StatusBadRequest, "invalid duration"},
		{"unknown field", `{"Network":"net1","Snap":1}`, nil, http.StatusBadRequest, "invalid request body"},
		{"socket refused", `{"Network":"net1"}`, errors.New("operation not permitted"), http.StatusInternalServerError, "capture network net1 on wbr171: operation not permitted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			openErr := c.openErr
			if openErr == nil {
				openErr = errors.New("a capture that should be refused was opened")
			}
			opened := useSource(d, nil, openErr)
			code, msg := status(t, d, http.MethodPost, "/v1/debug/capture", c.body)
			if code != c.status || !strings.Contains(msg, c.msg) {
				t.Fatalf("got %d %q; want %d with %q", code, msg, c.status, c.msg)
			}
			if c.openErr == nil && opened() != "" {
				t.Errorf("a refused capture opened %s", opened())
			}
		})
	}
}
