package cluster

import (
	"crypto/x509"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/pki"
	"github.com/weftnet/weft/control/store"
)

// Config is what a Node needs of the daemon it runs in. Start from
// DefaultConfig.
//
// A node follows the managers' gossip keys every PollInterval and reports
// the newest it holds; it encrypts with the key the managers call primary,
// which the leader moves to a new key only once every live member holds
// it (two phases, no clocks compared). The store keeps three generations
// and adds no key while one waits to become primary, so a key is dropped
// only two promotions after its successor was issued.
type Config struct {
	// StateDir holds the node's identity and membership in
	// StateDir/cluster and, on a manager, the raft log in StateDir/raft.
	StateDir string
	// DataAddr is this node's VTEP: recorded in the cluster, gossiped,
	// and one of its certificate's addresses.
	DataAddr netip.AddrPort
	// Hostname is the name people see for this node; empty means
	// os.Hostname.
	Hostname string
	// GossipPort is the TCP and UDP port of gossip, on the node's
	// advertise address.
	GossipPort uint16
	// Gossip tunes failure detection; only its timing fields are used.
	Gossip gossip.Config
	// Raft tunes a manager's raft elections; only its timing fields are
	// used.
	Raft store.Config
	// Handler is told of gossip's changes; nil ignores them.
	Handler gossip.Handler
	// GossipKeyRotation is how often the leader issues a new gossip key;
	// zero or less never rotates.
	GossipKeyRotation time.Duration
	// DataKeyRotation is how often the leader issues a new data key for
	// each encrypted network; zero or less never rotates.
	DataKeyRotation time.Duration
	// PollInterval is how often a started node asks the managers for the
	// cluster state, to follow its gossip keys and manager list and to
	// contact the members gossip sees as down.
	PollInterval time.Duration
	// DataKeyCheck is how often the leader looks for data keys due for
	// rotation.
	DataKeyCheck time.Duration
	// UnauthConns is how many manager API connections without a client
	// certificate (joining nodes, and anyone else who reaches 2377) a
	// manager holds at once; see Mux.Join.
	UnauthConns int
	// UnauthIdleTimeout is how long a connection without a client
	// certificate may take, after its TLS handshake, to send its request
	// header.
	UnauthIdleTimeout time.Duration
	// OnState, if set, is called with the managers' state after each poll,
	// from the node's own goroutine, with no lock of the node held. It
	// must not call Close or Leave.
	OnState func(*Node, *store.State)
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger

	// renewDue says when the node renews its certificate: pki.RenewDue,
	// unless a test wants it sooner.
	renewDue func(*x509.Certificate, time.Time) bool
}

// DefaultConfig returns the configuration weftd runs its cluster node
// with; StateDir and DataAddr must still be set.
func DefaultConfig() Config {
	return Config{
		StateDir:          "",                     // required: the daemon's state directory
		DataAddr:          netip.AddrPort{},       // required: the daemon's data path
		Hostname:          "",                     // os.Hostname()
		GossipPort:        7946,                   // as Docker's overlay gossip
		Gossip:            gossip.DefaultConfig(), // a dead node is withdrawn within 3 s on a LAN
		Raft:              store.DefaultConfig(),  // a lost leader is replaced within about 2 s on a LAN
		Handler:           nil,                    // set by the daemon: its reconciler
		GossipKeyRotation: 12 * time.Hour,         // as Docker rotates its keys
		DataKeyRotation:   12 * time.Hour,         // as Docker rotates its IPsec keys
		PollInterval:      5 * time.Second,        // a healed partition merges within this
		DataKeyCheck:      time.Second,            // so that a 3 s data key rotation still holds
		UnauthConns:       64,                     // a join holds one for one request: a rack can join at once
		UnauthIdleTimeout: 5 * time.Second,        // a join sends at once; as long as its handshake may take
		OnState:           nil,                    // set by the daemon: it follows the networks
		Logger:            nil,                    // slog.Default()
	}
}

// MinKeyRotation is the shortest gossip key rotation period: a rotation
// takes a poll or two (PollInterval) for every node to report the new key
// and the leader to promote it, and rotating much faster than that only
// queues keys.
const MinKeyRotation = 10 * time.Second

// withDefaults returns c with its logger, hostname and zero periods filled
// in from DefaultConfig and the system.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.renewDue == nil {
		c.renewDue = pki.RenewDue
	}
	for _, p := range []struct{ dst, def *time.Duration }{
		{&c.PollInterval, &d.PollInterval}, {&c.DataKeyCheck, &d.DataKeyCheck},
		{&c.UnauthIdleTimeout, &d.UnauthIdleTimeout},
	} {
		if *p.dst <= 0 {
			*p.dst = *p.def
		}
	}
	if c.UnauthConns <= 0 {
		c.UnauthConns = d.UnauthConns
	}
	return c
}
