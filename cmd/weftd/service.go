package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/weftnet/weft/daemon"
)

// service runs the daemon as a systemd service: it tells systemd how it is
// doing through sd_notify (nothing happens without NOTIFY_SOCKET), rereads
// the config file on SIGHUP, and stops on SIGTERM or SIGINT, leaving
// containers' links in place.
type service struct {
	started *options // the settings weftd started with
	args    []string // its command line, which a reload applies again
	level   slog.LevelVar
	log     *slog.Logger
	ready   atomic.Bool // READY=1 was sent: reloads report themselves from then on
}

func newService(o *options, args []string, logw io.Writer) *service {
	s := &service{started: o, args: args}
	lv, _ := parseLevel(o.logLevel) // checked by load
	s.level.Set(lv)
	s.log = newLogger(&s.level, o.logFormat, logw)
	return s
}

// run runs the daemon until SIGTERM or SIGINT, and returns nil after a
// clean stop.
func (s *service) run() error {
	sigs := make(chan os.Signal, 4)
	// SIGHUP is caught from the start: its default would end weftd.
	signal.Notify(sigs, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		s.handleSignals(ctx, sigs, cancel)
	}()
	defer func() {
		cancel()
		<-handled
	}()
	cfg := s.started.cfg
	cfg.Ready = func() {
		s.ready.Store(true)
		s.notify(sd.SdNotifyReady)
	}
	d, err := daemon.New(cfg, s.log)
	if err != nil {
		return err
	}
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	return d.Run(ctx)
}

// handleSignals reloads on SIGHUP, and on SIGTERM or SIGINT says STOPPING=1
// and cancels the daemon's context, until ctx is done.
func (s *service) handleSignals(ctx context.Context, sigs <-chan os.Signal, stop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.reload()
				continue
			}
			s.log.Info("stopping; containers keep their links", "signal", sig.String())
			s.notify(sd.SdNotifyStopping)
			// A second SIGTERM or SIGINT ends weftd at once.
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			stop()
			return
		}
	}
}

// reload rereads the config file (and applies the command line over it
// again) and applies what can change at run time: the log level. A file
// that does not load is logged and changes nothing.
func (s *service) reload() {
	if s.ready.Load() {
		s.notify(sd.SdNotifyReloading)
		defer s.notify(sd.SdNotifyReady)
	}
	o, err := load(s.args)
	if err != nil {
		s.log.Error("config not reloaded; the settings in effect stay", "file", s.started.configPath, "err", err)
		return
	}
	lv, _ := parseLevel(o.logLevel)
	s.level.Set(lv)
	if keys := changedKeys(s.started, o); len(keys) > 0 {
		s.log.Warn("config changes that take effect when weftd restarts", "file", o.configPath, "keys", keys)
	}
	s.log.Info("config reloaded", "file", o.configPath, "log_level", lv.String())
}

// changedKeys lists the keys, other than the reloadable ones, whose values
// differ between a and b.
func changedKeys(a, b *options) []string {
	fa, fb := newFlags(a), newFlags(b)
	var keys []string
	fa.VisitAll(func(f *flag.Flag) {
		if metaFlags[f.Name] || reloadable[f.Name] {
			return
		}
		if f.Value.String() != fb.Lookup(f.Name).Value.String() {
			keys = append(keys, f.Name)
		}
	})
	return keys
}

// notify sends one sd_notify state; without NOTIFY_SOCKET it does nothing.
func (s *service) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		s.log.Warn("systemd notification not sent", "state", state, "err", err)
	}
}
