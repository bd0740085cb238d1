package daemon

import (
	"net/netip"
	"time"

	"github.com/weftnet/weft/control/gossip"
	"github.com/weftnet/weft/control/resolver"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/vtep"
)

// Config is how weftd is run. Every path is settable so that several daemons
// can run side by side, one per network namespace.
type Config struct {
	// StateDir holds the state file that networks and attachments survive
	// restarts in.
	StateDir string
	// APISocket is the unix socket the CLI talks to.
	APISocket string
	// MetricsAddr is the TCP address of the Prometheus /metrics endpoint;
	// empty turns it off.
	MetricsAddr string
	// DataPathAddr is the underlay address VXLAN is sent from and received on;
	// unset picks the address of the interface with the default route.
	DataPathAddr netip.Addr
	// DataPathPort is the UDP port of VXLAN, on this host and on peers that
	// name no port.
	DataPathPort uint16
	// GossipPort is the TCP and UDP port of cluster gossip, on the
	// advertise address.
	GossipPort uint16
	// GossipKeyRotation is how often the leader issues a new gossip key;
	// zero or less never rotates.
	GossipKeyRotation time.Duration
	// DataKeyRotation is how often the leader issues a new data key for
	// each encrypted network; zero or less never rotates.
	DataKeyRotation time.Duration
	// Gossip tunes failure detection; see gossip.DefaultConfig. Only its
	// timing fields are used.
	Gossip gossip.Config
	// Engine tunes the data plane.
	Engine vtep.Config
	// TapDriver opens the networks' TAP devices: "linux" (batched reads on
	// the Linux TAP) or "water" (github.com/songgao/water, one frame per
	// call: the portable path, and the benchmark's ablation).
	TapDriver string
	// TapOffload opens the Linux TAP devices with virtio-net headers and
	// TCP segmentation and checksum offload: containers hand weftd TCP
	// super-frames of up to 64 KB, which weftd splits into segments, and
	// weftd writes them received segments coalesced again. Where the
	// kernel refuses the offloads, the TAP is opened without them.
	TapOffload bool
	// Queues is how many queues each network's TAP has, and how many
	// underlay sockets share the data path port (SO_REUSEPORT): each with
	// a loop of its own, so that flows spread over the cores. The linux
	// TAP driver only.
	Queues int
	// UDPOffload sends runs of underlay datagrams to one peer as one
	// UDP_SEGMENT message and reads runs coalesced by UDP_GRO, where the
	// kernel has them; off, every datagram costs its own trip through the
	// stack (the benchmark's ablation).
	UDPOffload bool
	// Pprof serves Go's CPU and heap profiles under /debug/pprof/ on the
	// metrics address, for finding what the data plane spends its time on.
	Pprof bool
	// DNS configures the embedded resolver containers find at 127.0.0.11:
	// where it forwards names that are not containers'.
	DNS resolver.Config
	// DockerPluginSocket is where weftd serves Docker its network and IPAM
	// driver "weft" (see daemon/dockerplugin); empty turns the Docker integration
	// off.
	DockerPluginSocket string
	// DockerHost is the Docker engine whose networks weftd keeps in step
	// with the cluster's, a unix:// URL.
	DockerHost string
	// DockerDNS, if set, is an address of this host where weftd answers
	// Docker containers' DNS queries, on port 53, for the names of the
	// containers on their weft networks on every host (see
	// daemon/dockerdns); daemon.json "dns" names it first.
	DockerDNS netip.Addr
	// Ready, if set, is called once, when Run has its API and metrics
	// listeners serving, after New bound the underlay socket and restored
	// the saved networks: weftd tells systemd it is ready there.
	Ready func()
}

// DefaultConfig returns the configuration weftd uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		StateDir:          "/var/lib/weft",        // as Docker keeps /var/lib/docker
		APISocket:         "/run/weft/weft.sock",  // matches api.DefaultHost
		MetricsAddr:       "127.0.0.1:9723",       // loopback only; expose deliberately
		DataPathPort:      encap.DefaultPort,      // 4789, IANA's VXLAN port
		GossipPort:        7946,                   // as Docker's overlay gossip
		GossipKeyRotation: 12 * time.Hour,         // as Docker rotates its keys
		DataKeyRotation:   12 * time.Hour,         // as Docker rotates its IPsec keys
		Gossip:            gossip.DefaultConfig(), // a dead node is withdrawn within 3 s on a LAN
		TapDriver:         "linux",
		TapOffload:        true,
		Queues:            1,
		UDPOffload:        true,
		Engine:            vtep.DefaultConfig(),     // see vtep.DefaultConfig
		DNS:               resolver.DefaultConfig(), // forwards to the resolvers of the host's /etc/resolv.conf

		DockerPluginSocket: "/run/docker/plugins/weft.sock", // where Docker looks for plugin "weft"
		DockerHost:         "unix:///var/run/docker.sock",   // Docker's own default
	}
}
