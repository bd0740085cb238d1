// Package capture streams a pcap of the frames one interface sees: `weft
// debug capture`, on a network's bridge.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// SnapLen is the most bytes kept of a frame: enough for the TCP
// super-frames of offloaded TAPs and veths, as tcpdump's default.
const SnapLen = 262144

// MaxLive bounds the captures running at once; each holds a packet
// socket and a frame buffer.
const MaxLive = 8

// Source is a live capture of the frames of one interface.
type Source interface {
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

// ErrShuttingDown ends the captures of a weftd that is stopping.
var ErrShuttingDown = errors.New("weftd is shutting down")

// Server runs captures, and ends those in flight when weftd stops instead
// of waiting for them. The zero Server captures with OpenAFPacket and
// logs nothing.
type Server struct {
	// Open opens a capture of an interface of this host's namespace; nil
	// is OpenAFPacket.
	Open func(ifname string) (Source, error)
	// Log says when captures start and end; nil logs nothing.
	Log *slog.Logger

	mu      sync.Mutex
	stopped bool
	next    uint64
	live    map[uint64]context.CancelCauseFunc
}

// start registers a capture made for a request with context parent. It
// returns the capture's context and the function that unregisters it.
func (s *Server) start(parent context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return nil, nil, api.Errorf(http.StatusServiceUnavailable, "%v", ErrShuttingDown)
	case len(s.live) >= MaxLive:
		return nil, nil, api.Errorf(http.StatusTooManyRequests, "%d captures are running already; wait for one to end", MaxLive)
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

// StopAll ends every capture and refuses new ones. Their streams end with
// ErrShuttingDown in the error trailer.
func (s *Server) StopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, cancel := range s.live {
		cancel(ErrShuttingDown)
	}
}

// Serve streams a pcap of the frames of ifname to w, as req asks, until
// its count or duration is reached, the client goes away, or StopAll; how
// it went is told in trailers (api.TrailerCapture*). req must have passed
// Check. When the capture cannot start, Serve writes nothing and returns
// the error, for the caller to answer with.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, req api.Capture, ifname string) error {
	ctx, done, err := s.start(r.Context())
	if err != nil {
		return err
	}
	defer done()
	open := s.Open
	if open == nil {
		open = OpenAFPacket
	}
	src, err := open(ifname)
	if err != nil {
		return fmt.Errorf("capture network %s on %s: %w", req.Network, ifname, err)
	}
	defer src.Close()
	s.log().Info("capture started", "network", req.Network, "bridge", ifname, "count", req.Count, "duration", req.Duration)
	h := w.Header()
	h.Set("Content-Type", "application/vnd.tcpdump.pcap")
	h.Set("Trailer", strings.Join([]string{api.TrailerCapturePackets, api.TrailerCaptureDropped, api.TrailerCaptureError}, ", "))
	w.WriteHeader(http.StatusOK)
	n, err := Stream(ctx, src, w, http.NewResponseController(w).Flush, req.Count, time.Now().Add(req.Duration))
	switch {
	case r.Context().Err() != nil:
		err = nil // the client went away: its capture ended as it should
	case err == nil && errors.Is(context.Cause(ctx), ErrShuttingDown):
		err = ErrShuttingDown
	}
	h.Set(api.TrailerCapturePackets, strconv.Itoa(n))
	h.Set(api.TrailerCaptureDropped, strconv.FormatUint(src.Dropped(), 10))
	if err != nil {
		h.Set(api.TrailerCaptureError, err.Error())
	}
	s.log().Info("capture ended", "network", req.Network, "bridge", ifname, "packets", n, "dropped", src.Dropped(), "err", err)
	return nil
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Check checks a capture request and fills in its defaults.
func Check(req *api.Capture) error {
	switch {
	case req.Network == "":
		return api.BadRequest("a capture needs a network")
	case req.Count < 0 || req.Count > api.MaxCaptureCount:
		return api.BadRequest("invalid count %d: want 1-%d", req.Count, api.MaxCaptureCount)
	case req.Duration < 0 || req.Duration > api.MaxCaptureDuration:
		return api.BadRequest("invalid duration %s: want at most %s", req.Duration, api.MaxCaptureDuration)
	}
	if req.Count == 0 {
		req.Count = api.DefaultCaptureCount
	}
	if req.Duration == 0 {
		req.Duration = api.DefaultCaptureDuration
	}
	return nil
}

// Stream writes a pcap file of src's frames to w, and calls flush
// after the file header and after each frame so that the reader has them
// at once. It stops after count frames, at until, or when ctx ends, and
// returns how many frames it wrote; the error is why it stopped sooner.
// The caller closes src.
func Stream(ctx context.Context, src Source, w io.Writer, flush func() error, count int, until time.Time) (int, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(SnapLen, layers.LinkTypeEthernet); err != nil {
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
	buf := make([]byte, SnapLen)
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
