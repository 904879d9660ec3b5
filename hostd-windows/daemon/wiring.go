// Package daemon puts wslfwd-hostd together. From a validated config, a
// backend and the gRPC server's listeners, New builds the ownership ledger,
// the static forwards, the reconciler, the engine, ControlService and the
// gRPC server; Run runs them until told to stop. `wslfwd-hostd run`, the
// Windows service and the tests (package daemontest) all start the daemon
// this way; what differs between them is only what they pass in.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/control"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
)

// Options are what a daemon is made of.
type Options struct {
	// Config is the validated config: expose address, grace, limits and
	// what policy reads.
	Config *config.Config
	// Backend carries the forwards. The daemon does not close it.
	Backend backend.Backend
	// StateDir holds the ledger (for a durable backend) and the static
	// forwards; it exists and is private to the daemon's account.
	StateDir string
	// Listeners are the gRPC server's. Run serves them and closes them
	// when it stops; if New fails, they stay the caller's to close.
	Listeners []net.Listener
	// Tokens are the bearer tokens of each role; Admin is required.
	Tokens server.Tokens
	// Targets are the rules for agents' forward targets; the zero value
	// is the strict rules the daemon runs with (tests allow loopback).
	Targets agents.TargetRules
	// MovingListenAddrs, when set, reports the addresses the server also
	// listens on now that come and go (the WSL adapter's), for GetStatus.
	MovingListenAddrs func() []netip.AddrPort
	// Problems adds platform checks to GetStatus; may be nil.
	Problems func(ctx context.Context) []*wslfwdv1.Problem
	// Firewall, when set, keeps an inbound firewall rule for every
	// forwarded or directly reachable port; else FirewallAudit, when
	// set, checks that the user's rules allow them (engine.Options).
	Firewall      engine.FirewallSyncer
	FirewallAudit engine.FirewallAuditor
	// Dial makes the probe's connections; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Metrics are the daemon's figures, shared with the backend that
	// counts into them (portproxy's netsh runs); the engine and the gRPC
	// server count into them too. Nil: the daemon's own.
	Metrics *metrics.Metrics
	// MetricsListener, when set (config metrics_listen), serves the
	// figures to Prometheus; Run closes it when it stops, and if New
	// fails it stays the caller's to close, like Listeners.
	MetricsListener net.Listener
	// Logger is the daemon's log; nil means slog.Default().
	Logger *slog.Logger
}

// Daemon is the engine and the gRPC server that serves it.
type Daemon struct {
	engine  *engine.Engine
	srv     *server.Server
	lns     []net.Listener
	addrs   []netip.AddrPort
	metrics *metrics.Metrics
	mln     net.Listener // nil: no metrics endpoint
	log     *slog.Logger
}

// New builds the daemon; nothing runs until Run.
func New(o Options) (*Daemon, error) {
	if o.Config == nil || o.Backend == nil {
		return nil, errors.New("daemon: config and backend are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	d := &Daemon{lns: o.Listeners, metrics: o.Metrics, mln: o.MetricsListener, log: log}
	for _, l := range o.Listeners {
		d.addrs = append(d.addrs, l.Addr().(*net.TCPAddr).AddrPort())
	}
	e, err := newEngine(o, d.addrs, log)
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Options{
		Registry: e.Registry(),
		Control:  control.New(e),
		Tokens:   o.Tokens,
		Metrics:  o.Metrics,
		Logger:   log.With("component", "server"),
	})
	if err != nil {
		return nil, err
	}
	d.engine, d.srv = e, srv
	return d, nil
}

// newEngine opens the ledger and the static forwards and builds the
// engine on them. The ledger is on disk only when the backend's entries
// outlive the daemon (portproxy); the relay's end with it, so its ledger
// stays in memory: no sync on the way to each new forward, and no
// dependence on a writable state directory (ledger.For ignores a
// ledger-relay.json left by older versions).
func newEngine(o Options, listen []netip.AddrPort, log *slog.Logger) (*engine.Engine, error) {
	led, err := ledger.For(o.StateDir, o.Backend)
	if err != nil {
		return nil, err
	}
	st, err := statics.Open(o.StateDir)
	if err != nil {
		return nil, err
	}
	cfg := o.Config
	return engine.New(engine.Options{
		Config: cfg,
		// The reconciler logs each forward added or removed (the backends
		// do not, so each is logged once).
		Reconciler:        reconcile.New(o.Backend, led, log.With("component", "reconcile")),
		Backend:           o.Backend,
		Statics:           st,
		ExposeAddr:        cfg.Expose(),
		ListenAddrs:       listen,
		MetricsPort:       metricsPort(o.MetricsListener),
		MovingListenAddrs: o.MovingListenAddrs,
		StateDir:          o.StateDir,
		Grace:             cfg.Grace,
		MaxListeners:      cfg.MaxListenersPerAgent,
		MaxAgents:         cfg.MaxAgents,
		Targets:           o.Targets,
		Problems:          o.Problems,
		Firewall:          o.Firewall,
		FirewallAudit:     o.FirewallAudit,
		Dial:              o.Dial,
		Metrics:           o.Metrics,
		Logger:            log,
	})
}

// metricsPort is ln's port; 0 without a metrics endpoint.
func metricsPort(ln net.Listener) uint16 {
	if ln == nil {
		return 0
	}
	a, err := netip.ParseAddrPort(ln.Addr().String())
	if err != nil {
		return 0
	}
	return a.Port()
}

// Addrs are the addresses of the listeners the daemon serves.
func (d *Daemon) Addrs() []netip.AddrPort { return d.addrs }

// Engine is the daemon's engine.
func (d *Daemon) Engine() *engine.Engine { return d.engine }

// Serve serves one more listener until the daemon stops; the WSL
// adapter's address, which comes and goes, is served this way.
func (d *Daemon) Serve(l net.Listener) error { return d.srv.Serve(l) }

// MetricsAddr is where the metrics endpoint listens; ok is false when
// there is none.
func (d *Daemon) MetricsAddr() (addr netip.AddrPort, ok bool) {
	if d.mln == nil {
		return netip.AddrPort{}, false
	}
	return d.mln.Addr().(*net.TCPAddr).AddrPort(), true
}

// serveMetrics serves the metrics endpoint, if any, until ctx ends; the
// returned func waits for it to have shut down. The endpoint failing
// leaves the daemon running: the figures are an extra, forwards are not.
func (d *Daemon) serveMetrics(ctx context.Context) (wait func()) {
	if d.mln == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, d.mln, d.metrics, d.log.With("component", "metrics")); err != nil {
			d.log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	return func() { <-done }
}

// stopWait bounds how long calls in flight may finish at shutdown.
const stopWait = 5 * time.Second

// Run runs the engine and serves the listeners until ctx ends or serving
// fails, then shuts down: it stops the engine first, which ends the watch
// streams, so the server's graceful stop only waits for short calls.
func (d *Daemon) Run(ctx context.Context) error {
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		d.engine.Run(engineCtx)
	}()
	serveErr := make(chan error, len(d.lns))
	for _, l := range d.lns {
		go func() { serveErr <- d.srv.Serve(l) }()
	}
	// The endpoint stops with the engine, and Run returns once it has.
	defer d.serveMetrics(engineCtx)()
	var err error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
		d.log.Error("server failed", "err", err)
	}
	stopEngine()
	<-engineDone
	stopCtx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	d.srv.Stop(stopCtx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
