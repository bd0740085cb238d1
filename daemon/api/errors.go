package api

import (
	"errors"
	"fmt"
	"net/http"
)

// StatusError is a request weftd refuses, with the HTTP status that says
// whose fault it was (4xx: the caller's; 503: try again later). The
// Client returns one for every refused request.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// Errorf returns a StatusError with status and a message.
func Errorf(status int, format string, args ...any) error {
	return &StatusError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 StatusError.
func BadRequest(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// NotFound is a 404 StatusError.
func NotFound(format string, args ...any) error { return Errorf(http.StatusNotFound, format, args...) }

// Conflict is a 409 StatusError.
func Conflict(format string, args ...any) error { return Errorf(http.StatusConflict, format, args...) }

// NoCluster is the 400 a cluster operation gets on a node outside any
// cluster.
func NoCluster() error {
	return BadRequest("this node is not part of a cluster: run 'weft cluster init' or 'weft cluster join', or make a static-peer network with --vni and --peer")
}

// ErrNotRunning is what a Client's error is (errors.Is) when nothing
// listens on weftd's socket.
var ErrNotRunning = errors.New("weftd is not running")

// notRunningError is a Client's error when nothing listens at host.
type notRunningError struct{ host string }

func (e notRunningError) Error() string {
	return fmt.Sprintf("cannot connect to weftd at %s: is weftd running?", e.host)
}

func (notRunningError) Is(target error) bool { return target == ErrNotRunning }
