package cluster

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Timeouts of the manager API's servers, so that no client, idle or slow,
// holds a connection for ever.
const (
	// apiHeaderTimeout bounds the arrival of a request's header from a
	// node of the cluster.
	apiHeaderTimeout = 10 * time.Second
	// apiCallTimeout bounds reading a request and writing its answer. It
	// is twice requestTimeout, which bounds every call a client of the API
	// makes, joins and forwarded raft changes included, so it never cuts
	// a call its client still waits for. It must not: net/http cancels a
	// request's context when ReadTimeout passes while its handler runs.
	apiCallTimeout = 2 * requestTimeout
	// apiIdleTimeout closes a node's keep-alive connection that it has
	// not used for this long. Clients drop theirs sooner
	// (clientIdleTimeout), so that none sends a request on a connection
	// the server is closing.
	apiIdleTimeout = 2 * time.Minute
	// clientIdleTimeout is how long a client keeps an idle connection.
	clientIdleTimeout = apiIdleTimeout / 2
)

// apiServers serve the manager API on a Mux: nodes, which present a
// certificate, on its API listener, and everyone else (joins) on its Join
// listener, one request per connection, whose header must arrive within
// the join server's idle timeout.
type apiServers struct {
	nodes, joins *http.Server
}

// serveAPI serves h on m's API and Join listeners until shutdown.
func serveAPI(h http.Handler, m *Mux, unauthIdle time.Duration) *apiServers {
	s := &apiServers{
		nodes: &http.Server{
			Handler: h, ReadHeaderTimeout: apiHeaderTimeout, ReadTimeout: apiCallTimeout,
			WriteTimeout: apiCallTimeout, IdleTimeout: apiIdleTimeout,
		},
		joins: &http.Server{
			Handler: h, ReadHeaderTimeout: unauthIdle, ReadTimeout: apiCallTimeout,
			WriteTimeout: apiCallTimeout, ConnState: m.JoinConnState,
		},
	}
	// A join is one request: its connection is closed after the answer,
	// so that an idle one never holds a place under the Mux's cap.
	s.joins.SetKeepAlivesEnabled(false)
	serve(s.nodes, m.API())
	serve(s.joins, m.Join())
	return s
}

func serve(srv *http.Server, ln net.Listener) {
	go func() { _ = srv.Serve(ln) }()
}

// shutdown lets the requests in progress finish for up to timeout, then
// closes every connection.
func (s *apiServers) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, srv := range []*http.Server{s.nodes, s.joins} {
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	}
}
