// Command weftd is weft's per-host daemon: the userspace VXLAN data plane and
// the local API that the weft CLI talks to.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/weftnet/weft/daemon"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "weftd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg := daemon.DefaultConfig()
	fs := flag.NewFlagSet("weftd", flag.ContinueOnError)
	fs.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory for weftd's durable state")
	fs.StringVar(&cfg.APISocket, "api-socket", cfg.APISocket, "unix socket of the local API")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "address of the Prometheus /metrics endpoint (empty: off)")
	dataAddr := fs.String("data-path-addr", "", "underlay IP address for VXLAN traffic (default: the default route's interface address)")
	port := fs.Uint("data-path-port", uint(cfg.DataPathPort), "UDP port for VXLAN traffic")
	gossipPort := fs.Uint("gossip-port", uint(cfg.GossipPort), "TCP and UDP port for cluster gossip")
	fs.DurationVar(&cfg.GossipKeyRotation, "gossip-key-rotation", cfg.GossipKeyRotation, "how often the managers issue a new gossip key (0: never)")
	fs.DurationVar(&cfg.DataKeyRotation, "data-key-rotation", cfg.DataKeyRotation, "how often the managers issue a new data key for each encrypted network (0: never)")
	fs.DurationVar(&cfg.Gossip.ProbeInterval, "gossip-probe-interval", cfg.Gossip.ProbeInterval, "failure detection: how often each node probes another")
	fs.DurationVar(&cfg.Gossip.ProbeTimeout, "gossip-probe-timeout", cfg.Gossip.ProbeTimeout, "failure detection: how long a probe waits for its ack (raise on slow networks)")
	fs.IntVar(&cfg.Gossip.SuspicionMult, "gossip-suspicion-mult", cfg.Gossip.SuspicionMult, "failure detection: how many probe intervals a suspect node has to refute")
	fs.Func("dns", "a DNS server the containers' resolver forwards other names to, as IP or IP:PORT (repeatable, at most 3; default: the nameservers of --dns-resolv-conf)", func(s string) error {
		ap, err := parseDNSServer(s)
		if err == nil {
			cfg.DNS.Upstreams = append(cfg.DNS.Upstreams, ap)
		}
		return err
	})
	fs.StringVar(&cfg.DNS.ResolvConf, "dns-resolv-conf", cfg.DNS.ResolvConf, "resolv.conf whose nameservers the containers' resolver forwards to, when --dns is not given")
	fs.StringVar(&cfg.TapDriver, "tap-driver", cfg.TapDriver, "how TAP devices are read: linux (batched) or water (portable, one frame per call)")
	fs.IntVar(&cfg.Queues, "queues", cfg.Queues, "linux TAP driver: queues per network's TAP and underlay sockets, each with its own loop (1-16)")
	fs.BoolVar(&cfg.UDPOffload, "udp-offload", cfg.UDPOffload, "send runs of underlay datagrams with UDP_SEGMENT and read them with UDP_GRO, where the kernel has them")
	fs.BoolVar(&cfg.Pprof, "pprof", cfg.Pprof, "serve Go profiles under /debug/pprof/ on the metrics address")
	fs.BoolVar(&cfg.TapOffload, "tap-offload", cfg.TapOffload, "linux TAP driver: take TCP super-frames with checksum offload and split them in weftd, and write received segments coalesced")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.TapDriver != "linux" && cfg.TapDriver != "water" {
		return fmt.Errorf("invalid --tap-driver %q: want linux or water", cfg.TapDriver)
	}
	if cfg.Queues < 1 || cfg.Queues > 16 {
		return fmt.Errorf("invalid --queues %d: want 1 to 16", cfg.Queues)
	}
	if *port == 0 || *port > 65535 {
		return fmt.Errorf("invalid --data-path-port %d", *port)
	}
	cfg.DataPathPort = uint16(*port)
	if *gossipPort == 0 || *gossipPort > 65535 {
		return fmt.Errorf("invalid --gossip-port %d", *gossipPort)
	}
	cfg.GossipPort = uint16(*gossipPort)
	if r := cfg.GossipKeyRotation; r > 0 && r < daemon.MinKeyRotation {
		return fmt.Errorf("invalid --gossip-key-rotation %s: want 0 (never) or at least %s", r, daemon.MinKeyRotation)
	}
	if r := cfg.DataKeyRotation; r > 0 && r < daemon.MinDataKeyRotation {
		return fmt.Errorf("invalid --data-key-rotation %s: want 0 (never) or at least %s", r, daemon.MinDataKeyRotation)
	}
	if *dataAddr != "" {
		a, err := netip.ParseAddr(*dataAddr)
		if err != nil {
			return fmt.Errorf("invalid --data-path-addr: %w", err)
		}
		cfg.DataPathAddr = a.Unmap()
	}
	log, err := newLogger(*level, *format)
	if err != nil {
		return err
	}
	d, err := daemon.New(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return d.Run(ctx)
}

// parseDNSServer reads a --dns value: an IP address, with or without a port
// (53 by default).
func parseDNSServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("want an IP address or IP:PORT, got %q", s)
	}
	return netip.AddrPortFrom(a.Unmap(), 53), nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}
