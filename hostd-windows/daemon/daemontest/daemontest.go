// Package daemontest runs a whole daemon in process for tests, as
// net/http/httptest runs a server: engine, ControlService and gRPC server
// wired by daemon.New on a loopback port, with a ControlService client, a
// stand-in agent (Agent) and an in-memory backend (Backend).
package daemontest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// Options configure a test daemon; every field may be left zero.
type Options struct {
	Backend  backend.Backend // default: a new Backend
	StateDir string          // default: a temporary directory
	Grace    time.Duration   // default: an hour
	Config   *config.Config  // default: config.Default()
	Expose   netip.Addr      // default: 0.0.0.0
	Tokens   server.Tokens   // default: new admin, agent and read tokens
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	Firewall engine.FirewallSyncer
	Audit    engine.FirewallAuditor
	Logger   *slog.Logger // default: discard
	// Metrics are the daemon's figures; default: its own. Pass them to
	// share them with a backend that counts into them.
	Metrics *metrics.Metrics
	// MetricsEndpoint serves the figures on a loopback port (MetricsURL).
	MetricsEndpoint bool
}

// Daemon is a running daemon. Stop ends it; the test's cleanup does too.
type Daemon struct {
	*daemon.Daemon
	Addr    string        // the gRPC server's address
	Tokens  server.Tokens // the tokens it accepts
	Control wslfwdv1.ControlServiceClient
	// MetricsURL is the metrics endpoint's, when Options.MetricsEndpoint.
	MetricsURL string
	stop       func()
}

// Start runs a daemon on 127.0.0.1. Agents, service and daemon share this
// machine's loopback, so agents' forwards may target loopback.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	o = o.withDefaults(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *o.Config
	cfg.Grace, cfg.ExposeAddress = o.Grace, o.Expose.String()
	var ml net.Listener
	if o.MetricsEndpoint {
		if ml, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			l.Close()
			t.Fatal(err)
		}
	}
	d, err := daemon.New(daemon.Options{
		Config:          &cfg,
		Backend:         o.Backend,
		StateDir:        o.StateDir,
		Listeners:       []net.Listener{l},
		Tokens:          o.Tokens,
		Targets:         agents.TargetRules{AllowLoopback: true},
		Dial:            o.Dial,
		Firewall:        o.Firewall,
		FirewallAudit:   o.Audit,
		Logger:          o.Logger,
		Metrics:         o.Metrics,
		MetricsListener: ml,
	})
	if err != nil {
		l.Close()
		if ml != nil {
			ml.Close()
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	h := &Daemon{Daemon: d, Addr: l.Addr().String(), Tokens: o.Tokens}
	if ml != nil {
		h.MetricsURL = "http://" + ml.Addr().String() + metrics.Path
	}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(h.stop)
	h.Control = wslfwdv1.NewControlServiceClient(h.Dial(t, h.Tokens.Admin))
	return h
}

func (o Options) withDefaults(t testing.TB) Options {
	if o.Backend == nil {
		o.Backend = NewBackend()
	}
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Grace == 0 {
		o.Grace = time.Hour
	}
	if !o.Expose.IsValid() {
		o.Expose = netip.IPv4Unspecified()
	}
	if o.Tokens.Admin == "" {
		for _, p := range []*string{&o.Tokens.Admin, &o.Tokens.Agent, &o.Tokens.Read} {
			tok, err := token.Generate()
			if err != nil {
				t.Fatal(err)
			}
			*p = tok
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stop stops the daemon and waits until it has.
func (h *Daemon) Stop() { h.stop() }

// Dial connects to the daemon with tok; the test's cleanup closes it.
func (h *Daemon) Dial(t testing.TB, tok string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(h.Addr,
		grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Ctx is a context for one call, ended by the test's cleanup at the
// latest.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Forwards lists the forwards (with all, every row).
func (h *Daemon) Forwards(t testing.TB, all bool) []*wslfwdv1.Forward {
	t.Helper()
	r, err := h.Control.ListForwards(Ctx(t), &wslfwdv1.ListForwardsRequest{All: all})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetForwards()
}

// Watch subscribes and returns once the subscription is in place.
func (h *Daemon) Watch(t testing.TB, initial bool) <-chan *wslfwdv1.WatchResponse {
	t.Helper()
	st, err := h.Control.Watch(Ctx(t), &wslfwdv1.WatchRequest{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *wslfwdv1.WatchResponse, 1024)
	go func() {
		defer close(ch)
		for {
			e, err := st.Recv()
			if err != nil {
				return
			}
			ch <- e
		}
	}()
	return ch
}

// Next is the next event of a Watch, waiting up to 10 s.
func Next(ch <-chan *wslfwdv1.WatchResponse) (*wslfwdv1.WatchResponse, error) {
	select {
	case e, ok := <-ch:
		if !ok {
			return nil, errors.New("watch ended")
		}
		return e, nil
	case <-time.After(10 * time.Second):
		return nil, errors.New("no event within 10 s")
	}
}
