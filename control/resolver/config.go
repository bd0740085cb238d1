package resolver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// maxUpstreams is how many upstreams are used at most, as glibc's MAXNS.
const maxUpstreams = 3

// self is the address the resolver itself answers on; forwarding to it
// would loop.
var self = netip.AddrFrom4([4]byte{127, 0, 0, 11})

// Config configures a Resolver. Start from DefaultConfig.
type Config struct {
	// Upstreams are the resolvers to forward to, tried in order; only the
	// first three are used, and 127.0.0.11 is refused. Empty: read
	// ResolvConf.
	Upstreams []netip.AddrPort
	// ResolvConf is the resolv.conf whose "nameserver" lines (port 53, the
	// first three, skipping 127.0.0.11) are the upstreams when Upstreams is
	// empty. It is re-read when its modification time or size changes,
	// checked at most every two seconds. Empty with no Upstreams: nothing
	// is forwarded and every non-local name gets SERVFAIL.
	ResolvConf string
	// Timeout is the whole budget of a forwarded query; when no upstream
	// answered within it the client gets SERVFAIL. Must be positive.
	Timeout time.Duration
	// TTL is the TTL of local answers. Zero keeps clients from caching a
	// name past its container's detach or death.
	TTL    uint32
	Logger *slog.Logger // nil: slog.Default()
}

// DefaultConfig returns the settings weftd uses: the host's resolv.conf, and
// a budget that gets every client its answer within 2 s.
func DefaultConfig() Config {
	return Config{
		Upstreams:  nil,                     // from ResolvConf
		ResolvConf: "/etc/resolv.conf",      // the host's resolvers
		Timeout:    1500 * time.Millisecond, // leaves half a second of the client's 2 s to scheduling and the way back
		TTL:        0,                       // never cached
		Logger:     nil,                     // slog.Default()
	}
}

// validate reports the first thing wrong with c.
func (c *Config) validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("resolver: Timeout %v is not positive", c.Timeout)
	}
	for _, u := range c.Upstreams {
		if err := checkUpstream(u); err != nil {
			return fmt.Errorf("resolver: upstream %v: %w", u, err)
		}
	}
	return nil
}

// checkUpstream reports why u cannot be forwarded to.
func checkUpstream(u netip.AddrPort) error {
	switch {
	case !u.IsValid() || u.Port() == 0:
		return errors.New("not an address and port")
	case isSelf(u.Addr()):
		return errors.New("is the embedded resolver itself")
	}
	return nil
}

// isSelf reports whether a is the embedded resolver's own address.
func isSelf(a netip.Addr) bool { return a.Unmap() == self }
