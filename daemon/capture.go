package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/weftnet/weft/daemon/api"
)

// captureSnapLen is the most bytes kept of a frame: enough for the TCP
// super-frames of offloaded TAPs and veths, as tcpdump's default.
const captureSnapLen = 262144

// maxCaptures bounds the captures running at once; each holds a packet
// socket and a frame buffer.
const maxCaptures = 8

// packetSource is a live capture of the frames of one interface.
type packetSource interface {
	// ReadPacket reads the next frame into buf and says when it was seen
	// and how long it was; a frame longer than buf is cut to len(buf)
	// (CaptureLength < Length). Once the deadline has passed it returns an
	// error that wraps os.ErrDeadlineExceeded.
	ReadPacket(buf []byte) (gopacket.CaptureInfo, error)
	// SetDeadline makes a ReadPacket blocked now, and every later one,
	// give up at t. It may be called while ReadPacket runs.
	SetDeadline(t time.Time) error
	// Dropped returns how many frames the kernel dropped, for want of
	// room, before they could be read.
	Dropped() uint64
	// Close ends the capture and releases its socket.
	Close() error
}

// openPacketSource opens a capture of an interface of this host's
// namespace; tests replace it.
var openPacketSource = openAFPacket

// errShuttingDown ends the captures of a weftd that is stopping.
var errShuttingDown = errors.New("weftd is shutting down")

// captureSet is the captures in flight, so that a stopping weftd ends them
// instead of waiting for them. The zero captureSet is empty.
type captureSet struct {
	mu      sync.Mutex
	stopped bool
	next    uint64
	live    map[uint64]context.CancelCauseFunc
}

// start registers a capture made for a request with context parent. It
// returns the capture's context and the function that unregisters it.
func (s *captureSet) start(parent context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return nil, nil, &inputError{http.StatusServiceUnavailable, errShuttingDown.Error()}
	case len(s.live) >= maxCaptures:
		return nil, nil, &inputError{http.StatusTooManyRequests, fmt.Sprintf("%d captures are running already; wait for one to end", maxCaptures)}
	}
	if s.live == nil {
		s.live = map[uint64]context.CancelCauseFunc{}
	}
	ctx, cancel := context.WithCancelCause(parent)
	id := s.next
	s.next++
	s.live[id] = cancel
	return ctx, func() {
		s.mu.Lock()
		delete(s.live, id)
		s.mu.Unlock()
		cancel(nil)
	}, nil
}

// stopAll ends every capture and refuses new ones. Their streams end with
// errShuttingDown in the error trailer.
func (s *captureSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, cancel := range s.live {
		cancel(errShuttingDown)
	}
}

// serveCapture streams a pcap of one network's inner Ethernet frames, as
// its bridge sees them, until the request's count or duration is reached
// or the client goes away. How it went is told in trailers
// (api.TrailerCapture*).
func (d *Daemon) serveCapture(w http.ResponseWriter, r *http.Request) {
	var req api.Capture
	if !decode(w, r, &req) {
		return
	}
	bridge, err := d.captureTarget(r.Context(), &req)
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	ctx, done, err := d.captures.start(r.Context())
	if err != nil {
		reply(w, 0, nil, err)
		return
	}
	defer done()
	src, err := openPacketSource(bridge)
	if err != nil {
		reply(w, 0, nil, fmt.Errorf("capture network %s on %s: %w", req.Network, bridge, err))
		return
	}
	defer src.Close()
	d.log.Info("capture started", "network", req.Network, "bridge", bridge, "count", req.Count, "duration", req.Duration)
	h := w.Header()
	h.Set("Content-Type", "application/vnd.tcpdump.pcap")
	h.Set("Trailer", strings.Join([]string{api.TrailerCapturePackets, api.TrailerCaptureDropped, api.TrailerCaptureError}, ", "))
	w.WriteHeader(http.StatusOK)
	n, err := streamCapture(ctx, src, w, http.NewResponseController(w).Flush, req.Count, time.Now().Add(req.Duration))
	switch {
	case r.Context().Err() != nil:
		err = nil // the client went away: its capture ended as it should
	case err == nil && errors.Is(context.Cause(ctx), errShuttingDown):
		err = errShuttingDown
	}
	h.Set(api.TrailerCapturePackets, strconv.Itoa(n))
	h.Set(api.TrailerCaptureDropped, strconv.FormatUint(src.Dropped(), 10))
	if err != nil {
		h.Set(api.TrailerCaptureError, err.Error())
	}
	d.log.Info("capture ended", "network", req.Network, "bridge", bridge, "packets", n, "dropped", src.Dropped(), "err", err)
}

// captureTarget checks a capture request, fills in its defaults, and
// returns the bridge of its network on this node.
func (d *Daemon) captureTarget(ctx context.Context, req *api.Capture) (string, error) {
	switch {
	case req.Network == "":
		return "", badRequest("a capture needs a network")
	case req.Count < 0 || req.Count > api.MaxCaptureCount:
		return "", badRequest("invalid count %d: want 1-%d", req.Count, api.MaxCaptureCount)
	case req.Duration < 0 || req.Duration > api.MaxCaptureDuration:
		return "", badRequest("invalid duration %s: want at most %s", req.Duration, api.MaxCaptureDuration)
	}
	if req.Count == 0 {
		req.Count = api.DefaultCaptureCount
	}
	if req.Duration == 0 {
		req.Duration = api.DefaultCaptureDuration
	}
	d.mu.Lock()
	n, ok := d.st.Networks[req.Network]
	var vni uint32
	if ok {
		vni = n.VNI
	}
	d.mu.Unlock()
	if ok {
		return bridgeName(vni), nil
	}
	if _, _, err := d.clusterNetwork(ctx, req.Network); err != nil {
		return "", err // a 404 when there is no such network
	}
	return "", conflict("network %s has no bridge on this node, as no container here is attached to it: capture on a node that has one", req.Network)
}

// streamCapture writes a pcap file of src's frames to w, and calls flush
// after the file header and after each frame so that the reader has them
// at once. It stops after count frames, at until, or when ctx ends, and
// returns how many frames it wrote; the error is why it stopped sooner.
// The caller closes src.
func streamCapture(ctx context.Context, src packetSource, w io.Writer, flush func() error, count int, until time.Time) (int, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(captureSnapLen, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := src.SetDeadline(until); err != nil {
		return 0, err
	}
	// Set after the deadline above, so that a context already done wins.
	stop := context.AfterFunc(ctx, func() { _ = src.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, captureSnapLen)
	n := 0
	for n < count {
		ci, err := src.ReadPacket(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := pw.WritePacket(ci, buf[:ci.CaptureLength]); err != nil {
			return n, err
		}
		n++
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}
