// Command weftd is weft's per-host daemon: the userspace VXLAN data plane and
// the local API that the weft CLI talks to.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/weftnet/weft/daemon"
	"github.com/weftnet/weft/daemon/dockersync"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		// Under journald, "<3>" files the line at priority err.
		fmt.Fprintln(os.Stderr, journalPrefix(errorPriority)+"weftd:", err)
		os.Exit(1)
	}
}

// options are weftd's settings as the command line and the config file give
// them, before they are checked and turned into a daemon.Config (see
// resolve).
type options struct {
	cfg         daemon.Config
	dataAddr    string
	port        uint
	gossipPort  uint
	dns         dnsList
	dockerDNS   string
	logLevel    string
	logFormat   string
	configPath  string
	printConfig bool
}

// newOptions returns weftd's defaults.
func newOptions() *options {
	cfg := daemon.DefaultConfig()
	return &options{
		cfg:        cfg,
		port:       uint(cfg.DataPathPort),
		gossipPort: uint(cfg.GossipPort),
		logLevel:   "info",
		logFormat:  "text",
		configPath: defaultConfigPath,
	}
}

// newFlags defines weftd's flags on o. It is the one list of weftd's
// settings: every flag but the meta flags (see metaFlags) is also a key of
// the config file, under the same name.
func newFlags(o *options) *flag.FlagSet {
	cfg := &o.cfg
	fs := flag.NewFlagSet("weftd", flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", o.configPath, "YAML file of settings, keyed by these flags' names; flags given here override it (empty: none)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the configuration in effect, in the config file's format, and exit")
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory for weftd's durable state")
	fs.StringVar(&cfg.APISocket, "api-socket", cfg.APISocket, "unix socket of the local API")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "address of the Prometheus /metrics endpoint (empty: off)")
	fs.StringVar(&o.dataAddr, "data-path-addr", o.dataAddr, "underlay IP address for VXLAN traffic (empty: the default route's interface address)")
	fs.UintVar(&o.port, "data-path-port", o.port, "UDP port for VXLAN traffic")
	fs.UintVar(&o.gossipPort, "gossip-port", o.gossipPort, "TCP and UDP port for cluster gossip")
	fs.DurationVar(&cfg.GossipKeyRotation, "gossip-key-rotation", cfg.GossipKeyRotation, "how often the managers issue a new gossip key (0: never)")
	fs.DurationVar(&cfg.DataKeyRotation, "data-key-rotation", cfg.DataKeyRotation, "how often the managers issue a new data key for each encrypted network (0: never)")
	fs.DurationVar(&cfg.Gossip.ProbeInterval, "gossip-probe-interval", cfg.Gossip.ProbeInterval, "failure detection: how often each node probes another")
	fs.DurationVar(&cfg.Gossip.ProbeTimeout, "gossip-probe-timeout", cfg.Gossip.ProbeTimeout, "failure detection: how long a probe waits for its ack (raise on slow networks)")
	fs.IntVar(&cfg.Gossip.SuspicionMult, "gossip-suspicion-mult", cfg.Gossip.SuspicionMult, "failure detection: how many probe intervals a suspect node has to refute")
	fs.Var(&o.dns, "dns", "a DNS server the containers' resolver forwards other names to, as IP or IP:PORT (repeatable, at most 3; none: the nameservers of --dns-resolv-conf)")
	fs.StringVar(&cfg.DNS.ResolvConf, "dns-resolv-conf", cfg.DNS.ResolvConf, "resolv.conf whose nameservers the containers' resolver forwards to, when --dns is not given")
	fs.StringVar(&cfg.TapDriver, "tap-driver", cfg.TapDriver, "how TAP devices are read: linux (batched) or water (portable, one frame per call)")
	fs.IntVar(&cfg.Queues, "queues", cfg.Queues, "linux TAP driver: queues per network's TAP and underlay sockets, each with its own loop (1-16)")
	fs.IntVar(&cfg.Engine.LearnLimit, "learn-limit", cfg.Engine.LearnLimit, "static-peer networks: the most MACs, and the most IP addresses, each network learns from traffic; frames from senders beyond it are delivered but not learned (0: no limit)")
	fs.BoolVar(&cfg.UDPOffload, "udp-offload", cfg.UDPOffload, "send runs of underlay datagrams with UDP_SEGMENT and read them with UDP_GRO, where the kernel has them")
	fs.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof, "serve Go profiles under /debug/pprof/ on the metrics address")
	fs.BoolVar(&cfg.TapOffload, "tap-offload", cfg.TapOffload, "linux TAP driver: take TCP super-frames with checksum offload and split them in weftd, and write received segments coalesced")
	fs.StringVar(&cfg.DockerPluginSocket, "docker-plugin-socket", cfg.DockerPluginSocket, "unix socket where weftd serves Docker its network and IPAM driver \"weft\" (empty: no Docker integration)")
	fs.StringVar(&cfg.DockerHost, "docker-host", cfg.DockerHost, "the local Docker engine, whose networks weftd keeps in step with the cluster's (a unix:// URL)")
	fs.StringVar(&o.dockerDNS, "docker-dns", o.dockerDNS, "an IP address of this host where weftd answers Docker containers' DNS queries for the names on their weft networks, on port 53 (empty: off); name it first in daemon.json \"dns\", before the host's resolvers")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")
	return fs
}

// metaFlags are the flags that say how weftd reads its settings rather than
// being settings: they are not config file keys.
var metaFlags = map[string]bool{"config": true, "print-config": true}

// checks validate, by key, the settings whose type alone does not make them
// valid, and turn them into o.cfg. Each error says what is wrong with the
// value; resolve adds the key and where the value came from.
func (o *options) checks() map[string]func() error {
	return map[string]func() error{
		"tap-driver": func() error {
			if d := o.cfg.TapDriver; d != "linux" && d != "water" {
				return fmt.Errorf("%q: want linux or water", d)
			}
			return nil
		},
		"queues": func() error {
			if q := o.cfg.Queues; q < 1 || q > 16 {
				return fmt.Errorf("%d: want 1 to 16", q)
			}
			return nil
		},
		"learn-limit": func() error {
			if l := o.cfg.Engine.LearnLimit; l < 0 {
				return fmt.Errorf("%d: want 0 (no limit) or more", l)
			}
			return nil
		},
		"data-path-port":        func() error { return checkPort(o.port, &o.cfg.DataPathPort) },
		"gossip-port":           func() error { return checkPort(o.gossipPort, &o.cfg.GossipPort) },
		"gossip-key-rotation":   func() error { return checkRotation(o.cfg.GossipKeyRotation, daemon.MinKeyRotation) },
		"data-key-rotation":     func() error { return checkRotation(o.cfg.DataKeyRotation, daemon.MinDataKeyRotation) },
		"gossip-probe-interval": func() error { return checkPositive(o.cfg.Gossip.ProbeInterval) },
		"gossip-probe-timeout":  func() error { return checkPositive(o.cfg.Gossip.ProbeTimeout) },
		"gossip-suspicion-mult": func() error {
			if m := o.cfg.Gossip.SuspicionMult; m < 1 {
				return fmt.Errorf("%d: want at least 1", m)
			}
			return nil
		},
		"data-path-addr": o.checkDataAddr,
		"dns": func() error {
			if len(o.dns) > 3 {
				return fmt.Errorf("%s: want at most 3 servers", o.dns.String())
			}
			o.cfg.DNS.Upstreams = []netip.AddrPort(o.dns)
			return nil
		},
		"docker-host": func() error {
			if o.cfg.DockerPluginSocket == "" {
				return nil
			}
			_, err := dockersync.NewClient(o.cfg.DockerHost)
			return err
		},
		"docker-dns": func() error {
			if o.dockerDNS == "" {
				return nil
			}
			a, err := netip.ParseAddr(o.dockerDNS)
			if err != nil {
				return fmt.Errorf("%q: want an IP address of this host (Docker's \"dns\" takes no port)", o.dockerDNS)
			}
			o.cfg.DockerDNS = a
			return nil
		},
		"log-level": func() error {
			_, err := parseLevel(o.logLevel)
			return err
		},
		"log-format": func() error {
			if f := o.logFormat; f != "text" && f != "json" {
				return fmt.Errorf("%q: want text or json", f)
			}
			return nil
		},
	}
}

func checkPort(p uint, to *uint16) error {
	if p == 0 || p > 65535 {
		return fmt.Errorf("%d: want 1 to 65535", p)
	}
	*to = uint16(p)
	return nil
}

func checkRotation(r, least time.Duration) error {
	if r > 0 && r < least {
		return fmt.Errorf("%s: want 0 (never) or at least %s", r, least)
	}
	return nil
}

func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s: want more than 0", d)
	}
	return nil
}

func (o *options) checkDataAddr() error {
	o.cfg.DataPathAddr = netip.Addr{}
	if o.dataAddr == "" {
		return nil
	}
	a, err := netip.ParseAddr(o.dataAddr)
	if err != nil {
		return fmt.Errorf("%q: want an IP address", o.dataAddr)
	}
	o.cfg.DataPathAddr = a.Unmap()
	return nil
}

// run is weftd: it reads its settings from args and the config file, then
// either prints them (--print-config) to stdout or runs the daemon, logging
// to logw, until SIGTERM or SIGINT.
func run(args []string, stdout, logw io.Writer) error {
	o, err := load(args)
	if err != nil {
		return err
	}
	if o.printConfig {
		return o.render(stdout)
	}
	s := newService(o, args, logw)
	return s.run()
}
