package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/weftnet/weft/daemon/links"
	"github.com/weftnet/weft/daemon/request"
	"github.com/weftnet/weft/encap"
	"github.com/weftnet/weft/fdb"
	"github.com/weftnet/weft/metrics"
	"github.com/weftnet/weft/vtep"
)

// openDataPath binds the underlay socket as cfg says and builds the engine
// on it, over table; it returns the data path requests are checked against.
func openDataPath(cfg Config, log *slog.Logger, reg *metrics.Registry, table *fdb.Table) (request.Host, *vtep.Engine, error) {
	host, err := dataHost(cfg)
	if err != nil {
		return host, nil, err
	}
	conns, err := listenUnderlay(cfg, host.DataAddr, log, reg)
	if err != nil {
		return host, nil, err
	}
	return host, vtep.NewQueues(cfg.Engine, conns, table, reg, log), nil
}

// dataHost is the data path cfg names: its address (by default that of the
// interface with the default route), port and underlay MTU.
func dataHost(cfg Config) (request.Host, error) {
	addr := cfg.DataPathAddr
	if !addr.IsValid() {
		var err error
		if addr, err = links.DefaultDataAddr(); err != nil {
			return request.Host{}, err
		}
	}
	mtu, err := links.UnderlayMTU(addr)
	if err != nil {
		return request.Host{}, fmt.Errorf("data path address %s: %w", addr, err)
	}
	return request.Host{DataAddr: netip.AddrPortFrom(addr, cfg.DataPathPort), UnderlayMTU: mtu}, nil
}

// listenUnderlay binds the underlay sockets at addr, one per queue, with
// the offloads cfg asks for; refusals are logged and counted in reg.
func listenUnderlay(cfg Config, addr netip.AddrPort, log *slog.Logger, reg *metrics.Registry) ([]encap.Conn, error) {
	queues := max(cfg.Queues, 1)
	if cfg.TapDriver == "water" {
		queues = 1 // one TAP queue: more sockets would only split its traffic
	}
	var opts []encap.Option
	if cfg.UDPOffload { // turned off by flag, they are not refused
		opts = append(opts, encap.WithOffloadRefused(func(o encap.Offload, err error) {
			offloadRefused(log, &reg.Offloads, underlayOffload(o), err, "addr", addr)
		}))
	}
	socks, err := encap.ListenQueues(addr, cfg.Engine.BatchSize, queues, opts...)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	conns := make([]encap.Conn, len(socks))
	for i, s := range socks {
		conns[i] = s
		if !cfg.UDPOffload {
			err = errors.Join(err, s.DisableOffload())
		}
	}
	if err != nil {
		for _, s := range socks {
			s.Close()
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	setOffloads(&reg.Offloads, cfg, socks)
	gso, gro := socks[0].Offload()
	log.Info("underlay sockets", "addr", addr, "queues", queues, "udp_segment", gso, "udp_gro", gro, "batch", cfg.Engine.BatchSize)
	return conns, nil
}
