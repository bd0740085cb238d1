// Package dockersync keeps the local Docker engine's networks of driver
// weft in step with weft's cluster networks: every weft network shows in
// docker network ls, under its name, and goes when it goes; a network made
// with docker network create here gets its weft network once the engine
// shows its name.
//
// It also names the local containers' endpoints on weft networks after
// their containers (name and --network-alias names), so that they resolve
// across hosts, and tells weftd's Docker DNS which containers ask from
// which addresses.
//
// Log lines use the keys "network" (the name), "docker_network" (Docker's
// ID), "container", "docker_id", "docker_host" and "err".
package dockersync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/weftnet/weft/daemon/dockerplugin"
)

// Engine is the part of the Docker engine's API the sync uses.
type Engine interface {
	Ping(ctx context.Context) error
	// Networks lists the engine's networks of driver weft.
	Networks(ctx context.Context) ([]EngineNetwork, error)
	CreateNetwork(ctx context.Context, n EngineNetwork) (string, error)
	RemoveNetwork(ctx context.Context, id string) error
	// Containers lists the running containers; Container inspects one.
	Containers(ctx context.Context) ([]EngineContainer, error)
	Container(ctx context.Context, id string) (EngineContainer, error)
}

var _ Engine = (*Client)(nil)

// Weft is the part of weftd the sync reads: the cluster's networks.
type Weft interface {
	Networks(ctx context.Context) ([]dockerplugin.Network, error)
}

// Plugin is the part of the Docker plugin the sync drives.
type Plugin interface {
	Pending() []string
	Complete(ctx context.Context, docker, name string, attachable, internal bool) error
	Learn(docker string, subnet netip.Prefix)
}

var _ Plugin = (*dockerplugin.Plugin)(nil)

// Config is a sync's parts and pace.
type Config struct {
	Engine Engine
	Weft   Weft
	Plugin Plugin
	Host   string // the engine's address, for messages
	Log    *slog.Logger
	// Period is how often the sync compares the two sides: a new network
	// shows in docker network ls within about one period.
	Period time.Duration
	// Firewall, if set, makes sure the engine's firewall lets weft's
	// traffic through: frames bridged on weft's bridges, and the way out
	// of the networks that have one (dockerfw.Sync); the sync calls it
	// when the engine answers, and every firewallEvery passes after.
	Firewall func() (changed bool, err error)
	// Names, if set, gets every local Docker endpoint on a weft network
	// named after its container each pass, and Askers, if set, gets the
	// containers' addresses and networks (see Askers).
	Names  Namer
	Askers func(Askers)
}

// firewallEvery is how many passes go between checks of the engine's
// firewall: a new network's way out, or a rule flushed by hand, is there
// within 1 s.
const firewallEvery = 2

// DefaultPeriod keeps a new network's delay to docker network ls well
// under the 2 s weft promises, at two reads of each side a second.
const DefaultPeriod = 500 * time.Millisecond

// Sync is the loop that keeps the engine's networks in step.
type Sync struct {
	cfg Config
	// Owned by the loop's goroutine.
	up     bool              // the engine answered the last call
	failed map[string]string // the last error logged per network name, so that each is logged once
	passes int               // passes since the firewall was last checked
	fwErr  string            // the firewall check's last error logged
	// containers are the last inspections of containers on weft networks.
	containers map[string]inspected
}

// New returns a sync; Run runs it.
func New(cfg Config) *Sync {
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	return &Sync{cfg: cfg, up: true, failed: map[string]string{}, containers: map[string]inspected{}}
}

// Run syncs every period until ctx is done. An engine that does not
// answer turns the Docker integration off, which is logged once, until it
// answers again.
func (s *Sync) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Period)
	defer tick.Stop()
	for {
		s.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// step makes one pass, bounded by a few periods.
func (s *Sync) step(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*s.cfg.Period)
	defer cancel()
	err := s.Once(ctx)
	var down *engineDown
	switch {
	case errors.As(err, &down) && s.up:
		s.cfg.Log.Warn("docker integration off: no docker engine answers; weft networks will show in docker network ls once one does",
			"docker_host", s.cfg.Host, "err", down.err)
	case err == nil && !s.up:
		s.cfg.Log.Info("docker integration on: the docker engine answers", "docker_host", s.cfg.Host)
	case err != nil && !errors.As(err, &down) && ctx.Err() == nil:
		s.cfg.Log.Debug("docker network sync failed", "err", err)
	}
	wasUp := s.up
	s.up = !errors.As(err, &down)
	if s.up && (!wasUp || s.passes%firewallEvery == 0) {
		s.checkFirewall()
	}
	s.passes++
}

// checkFirewall lets weft's traffic through the engine's firewall,
// logging a change, or a failure once until it changes.
func (s *Sync) checkFirewall() {
	if s.cfg.Firewall == nil {
		return
	}
	changed, err := s.cfg.Firewall()
	switch {
	case err == nil && changed:
		s.cfg.Log.Info("docker firewall: weft's rules in DOCKER-USER updated (bridged frames, and the way out of each network that is not internal)")
	case err != nil && err.Error() != s.fwErr:
		s.cfg.Log.Warn("docker firewall: weft's traffic may be dropped by Docker's FORWARD policy; "+
			"if containers on weft networks cannot reach each other, run: iptables -I DOCKER-USER -i wbr+ -o wbr+ -j ACCEPT; "+
			"if they cannot reach outside, also: iptables -I DOCKER-USER -i wbr<VNI> -j ACCEPT and "+
			"iptables -I DOCKER-USER -o wbr<VNI> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "err", err)
	}
	s.fwErr = ""
	if err != nil {
		s.fwErr = err.Error()
	}
}

// engineDown is an engine that does not answer at all.
type engineDown struct{ err error }

func (e *engineDown) Error() string { return e.err.Error() }

// Once makes one pass: pending networks get their weft network, weft
// networks missing from the engine are created there, the engine's
// weft networks that no weft network backs are removed, and containers'
// endpoints on weft networks get their names.
func (s *Sync) Once(ctx context.Context) error {
	if err := s.cfg.Engine.Ping(ctx); err != nil {
		return &engineDown{err}
	}
	dk, err := s.cfg.Engine.Networks(ctx)
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, id := range s.cfg.Plugin.Pending() {
		pending[id] = true
	}
	s.complete(ctx, dk, pending)
	wn, err := s.cfg.Weft.Networks(ctx) // after complete: it sees what complete created
	if err != nil {
		return err
	}
	s.removeUnbacked(ctx, dk, wn, pending)
	s.createMissing(ctx, dk, wn)
	return s.names(ctx, dk)
}

// complete creates the weft networks of the engine's networks that were
// made with docker network create here; one that cannot be is removed
// from the engine, with the reason logged.
func (s *Sync) complete(ctx context.Context, dk []EngineNetwork, pending map[string]bool) {
	for _, d := range dk {
		if !pending[d.ID] {
			continue
		}
		err := s.cfg.Plugin.Complete(ctx, d.ID, d.Name, d.Attachable, d.Internal)
		if err == nil {
			continue
		}
		s.cfg.Log.Error("docker network create failed: its weft network was refused; removing the docker network", "network", d.Name, "docker_network", d.ID, "err", err)
		if rerr := s.cfg.Engine.RemoveNetwork(ctx, d.ID); rerr != nil {
			s.cfg.Log.Warn("docker network not removed", "network", d.Name, "docker_network", d.ID, "err", rerr)
		}
	}
}

// removeUnbacked removes the engine's weft networks whose weft network is
// gone (or is another network now), and tells the plugin which weft
// network each of the others shows.
func (s *Sync) removeUnbacked(ctx context.Context, dk []EngineNetwork, wn []dockerplugin.Network, pending map[string]bool) {
	byName := map[string]dockerplugin.Network{}
	for _, n := range wn {
		byName[n.Name] = n
	}
	for _, d := range dk {
		n, ok := byName[d.Name]
		if ok && subnetOf(d) == n.Subnet {
			s.cfg.Plugin.Learn(d.ID, n.Subnet)
			continue
		}
		if pending[d.ID] {
			continue
		}
		err := s.cfg.Engine.RemoveNetwork(ctx, d.ID)
		s.report(d.Name, "weft network gone; docker network removed", "docker network of a removed weft network not removed", err)
	}
}

// createMissing creates the engine's view of every weft network it lacks.
func (s *Sync) createMissing(ctx context.Context, dk []EngineNetwork, wn []dockerplugin.Network) {
	have := map[string]bool{}
	for _, d := range dk {
		have[d.Name] = true
	}
	for _, n := range wn {
		if have[n.Name] {
			continue
		}
		_, err := s.cfg.Engine.CreateNetwork(ctx, engineView(n))
		s.report(n.Name, "docker network created for a weft network", "docker network not created for a weft network", err)
	}
}

// report logs the outcome of a change to a network: a success at INFO, an
// error at WARN once until it changes.
func (s *Sync) report(name, done, failed string, err error) {
	if err == nil {
		delete(s.failed, name)
		s.cfg.Log.Info(done, "network", name)
		return
	}
	if s.failed[name] != err.Error() {
		s.failed[name] = err.Error()
		s.cfg.Log.Warn(failed, "network", name, "err", err)
	}
}

// engineView is the Docker network that shows weft network n: drivers
// weft, n's addresses, and n's ID in the options for the IPAM driver.
func engineView(n dockerplugin.Network) EngineNetwork {
	cfg := EngineIPAMConfig{Subnet: n.Subnet.String()}
	if n.Gateway.IsValid() {
		cfg.Gateway = n.Gateway.String()
	}
	if n.IPRange.IsValid() {
		cfg.IPRange = n.IPRange.String()
	}
	opts := map[string]string{dockerplugin.NetworkOption: n.ID, "com.docker.network.driver.mtu": fmt.Sprint(n.MTU)}
	if n.Encrypted {
		opts["encrypted"] = ""
	}
	return EngineNetwork{
		Name: n.Name, Driver: "weft", Internal: n.Internal, Attachable: n.Attachable, Options: opts,
		IPAM: EngineIPAM{Driver: "weft", Config: []EngineIPAMConfig{cfg}, Options: map[string]string{dockerplugin.NetworkOption: n.ID}},
	}
}

// subnetOf is a Docker network's first subnet, or the zero prefix.
func subnetOf(d EngineNetwork) netip.Prefix {
	if len(d.IPAM.Config) == 0 {
		return netip.Prefix{}
	}
	p, _ := netip.ParsePrefix(d.IPAM.Config[0].Subnet)
	return p
}
