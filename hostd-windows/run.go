package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// backendOptions carries what a backend constructor may need.
type backendOptions struct {
	Logger   *slog.Logger // never nil
	StateDir string       // the daemon's state directory, already created
}

// runFlags are the `run` command's flags. Flags given explicitly override
// the config file; the rest take the config's values, then the defaults.
type runFlags struct {
	config         string
	backend        string
	listen         []string
	exposeAddress  string
	stateDir       string
	tokenFile      string
	readTokenFile  string
	agentTokenFile string
	grace          time.Duration
	logLevel       string
	logFile        string
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "config file (TOML); flags given explicitly override it")
	fs.StringVar(&f.backend, "backend", "", "forwarding backend: portproxy or relay (default: "+defaultBackendName()+")")
	fs.StringArrayVar(&f.listen, "listen", nil, "address:port for the gRPC server; repeatable (default: the WSL-facing address and loopback)")
	fs.StringVar(&f.exposeAddress, "expose-address", "", "host address forwards listen on (default 0.0.0.0)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the ownership ledger (portproxy), static forwards and tokens (default "+defaultStateDir()+")")
	fs.StringVar(&f.tokenFile, "token-file", "", "admin token file, created at first start (default <state-dir>/token)")
	fs.StringVar(&f.readTokenFile, "read-token-file", "", "read-only token file for status and listing calls, created if missing (default: no read token)")
	fs.StringVar(&f.agentTokenFile, "agent-token-file", "", "token file for agents, created if missing (default agent.token beside the admin token)")
	fs.DurationVar(&f.grace, "grace", 0, "how long a gone agent's forwards stay up (default "+config.DefaultGrace.String()+")")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFile, "log-file", "", fmt.Sprintf("log to this file instead of stderr, rotated at %d MiB, %d old files kept",
		logfile.MaxSizeMiB, logfile.MaxBackups))
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDaemon(ctx, cmd.Flags(), &f, nil)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// runDaemonArgs runs the daemon exactly as `wslfwd-hostd run <args...>`
// would, until ctx is cancelled. ready, if not nil, is called once the
// gRPC server is listening.
func runDaemonArgs(ctx context.Context, args []string, ready func()) error {
	var f runFlags
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var onListen func([]netip.AddrPort)
	if ready != nil {
		onListen = func([]netip.AddrPort) { ready() }
	}
	return runDaemon(ctx, fs, &f, onListen)
}

// settings are the resolved settings of one run.
type settings struct {
	cfg            *config.Config
	backend        string
	listen         []netip.AddrPort
	followWSL      bool // also listen on the WSL adapter's address, following it
	expose         netip.Addr
	stateDir       string
	tokenFile      string
	readTokenFile  string
	agentTokenFile string
	log            *slog.Logger
	logOut         io.Closer // the log file, if any; closed when the daemon ends
}

// resolve merges config file, explicit flags and defaults.
func resolve(fs *pflag.FlagSet, f *runFlags) (*settings, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	s := &settings{}

	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	set := fs.Changed
	if set("backend") {
		cfg.Backend = f.backend
	}
	if set("listen") {
		cfg.Listen = f.listen
	}
	if set("expose-address") {
		cfg.ExposeAddress = f.exposeAddress
	}
	if set("state-dir") {
		cfg.StateDir = f.stateDir
	}
	if set("token-file") {
		cfg.TokenFile = f.tokenFile
	}
	if set("read-token-file") {
		cfg.ReadTokenFile = f.readTokenFile
	}
	if set("agent-token-file") {
		cfg.AgentTokenFile = f.agentTokenFile
	}
	if set("grace") {
		cfg.Grace = f.grace
	}
	if set("log-file") {
		cfg.LogFile = f.logFile
	}
	if cfg.Backend == "" {
		// Before Validate: some checks depend on the backend (portproxy
		// never listens on loopback), and the platform's default counts.
		cfg.Backend = defaultBackendName()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.backend = cfg.Backend
	listen := cfg.Listen
	if len(listen) == 0 {
		listen = defaultListenAddrs()
		s.followWSL = true
	}
	for _, l := range listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: want address:port, e.g. 127.0.0.1:17810: %w", l, err)
		}
		s.listen = append(s.listen, ap)
	}
	s.expose = cfg.Expose()

	s.stateDir = cfg.StateDir
	if s.stateDir == "" {
		s.stateDir = defaultStateDir()
	}
	s.tokenFile = cfg.TokenPath(s.stateDir)
	s.agentTokenFile = cfg.AgentTokenFile
	if s.agentTokenFile == "" {
		s.agentTokenFile = filepath.Join(filepath.Dir(s.tokenFile), "agent.token")
	}
	s.readTokenFile = cfg.ReadTokenFile
	s.log, s.logOut = newLogger(cfg.LogFile, level)
	return s, nil
}

// newLogger logs to stderr, or to file, rotated by size (package
// logfile), when file is set; the closer is then the file's.
func newLogger(file string, level slog.Level) (*slog.Logger, io.Closer) {
	opts := &slog.HandlerOptions{Level: level}
	if file == "" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	// Opened at the first write, so nothing leaks if the start fails.
	lf := logfile.Open(file)
	return slog.New(slog.NewTextHandler(lf, opts)), lf
}

// loadTokens loads the token files, creating missing ones (owner-only),
// and refuses files others could read or replace and roles that share a
// token (fileperm, token.CheckDistinct): either would give a weaker
// role, or another account, the admin's rights.
func loadTokens(s *settings) (server.Tokens, error) {
	var t server.Tokens
	var loaded []token.RoleFile
	for _, x := range []struct {
		path string
		dst  *string
		role string
	}{
		{s.tokenFile, &t.Admin, "admin"},
		{s.agentTokenFile, &t.Agent, "agent"},
		{s.readTokenFile, &t.Read, "read"},
	} {
		if x.path == "" {
			continue
		}
		tok, created, err := token.LoadOrCreate(x.path)
		if err != nil {
			return t, fmt.Errorf("%s token: %w", x.role, err)
		}
		if err := fileperm.CheckPrivate(x.path); err != nil {
			return t, fmt.Errorf("%s token: %w", x.role, err)
		}
		if created {
			s.log.Info("created token file", "role", x.role, "path", x.path)
		}
		*x.dst = tok
		loaded = append(loaded, token.RoleFile{Role: x.role, Path: x.path, Token: tok})
	}
	return t, token.CheckDistinct(loaded)
}

// prepareStateDir creates the state directory (owner-only) and refuses
// one that others may use: it holds the tokens, the ledger and the log.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	if err := fileperm.CheckPrivate(dir); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// runDaemon runs until ctx ends, then shuts down: it stops serving, stops
// the engine and closes the backend (relay forwards end with the process;
// portproxy entries persist and are adopted at the next start).
func runDaemon(ctx context.Context, fs *pflag.FlagSet, f *runFlags, onListen func([]netip.AddrPort)) error {
	s, err := resolve(fs, f)
	if err != nil {
		return err
	}
	log := s.log
	if s.logOut != nil {
		defer s.logOut.Close()
	}
	if err := prepareStateDir(s.stateDir); err != nil {
		return err
	}
	// netsh's script files go to the state directory, which only the
	// daemon's account may use, not to a user's %TEMP%.
	winexec.SetScriptDir(s.stateDir)
	be, err := openBackend(log, s.backend, s.stateDir)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	defer func() {
		if err := be.Close(); err != nil {
			log.Warn("close backend", "err", err)
		}
	}()
	// The ownership ledger is on disk only when the backend's entries
	// outlive the daemon (portproxy). The relay's end with it, so its
	// ledger stays in memory: no sync on the way to each new forward, and
	// no dependence on a writable state directory. ledger.For ignores a
	// ledger-relay.json left by older versions.
	led, err := ledger.For(s.stateDir, be)
	if err != nil {
		return err
	}
	st, err := statics.Open(s.stateDir)
	if err != nil {
		return err
	}
	tokens, err := loadTokens(s)
	if err != nil {
		return err
	}

	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var addrs []netip.AddrPort
	for _, a := range s.listen {
		if a.Addr().IsUnspecified() {
			log.Warn("listening on every address: agents and clients anywhere can reach the daemon", "listen", a)
		}
		l, err := net.Listen("tcp", a.String())
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().(*net.TCPAddr).AddrPort())
	}

	// The WSL adapter's address is followed on the daemon's (first) port.
	var follow *follower
	if lookup, onChange := wslAdapter(); s.followWSL && lookup != nil {
		follow = &follower{lookup: lookup, onChange: onChange, port: addrs[0].Port(),
			interval: 2 * time.Second, log: log.With("component", "listen")}
	}
	var fw daemon.FirewallSyncer
	var audit daemon.FirewallAuditor
	if s.cfg.Firewall {
		if fw, err = newFirewall(log.With("component", "firewall"), s.cfg.FirewallProfiles); err != nil {
			return err
		}
	} else {
		audit = newFirewallAuditor(log.With("component", "firewall"))
	}
	d, err := daemon.New(daemon.Options{
		Firewall:          fw,
		FirewallAudit:     audit,
		Config:            s.cfg,
		Backend:           be,
		Reconciler:        newReconciler(be, led, log),
		Statics:           st,
		ExposeAddr:        s.expose,
		ListenAddrs:       addrs,
		StateDir:          s.stateDir,
		Grace:             s.cfg.Grace,
		MaxListeners:      s.cfg.MaxListenersPerAgent,
		MaxAgents:         s.cfg.MaxAgents,
		MovingListenAddrs: follow.listenAddrs(),
		Problems: func(ctx context.Context) []*wslfwdv1.Problem {
			return append(platformProblems(ctx, be.Name()), follow.problems()...)
		},
		Logger: log,
	})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{
		Registry: d.Registry(),
		Control:  d,
		Tokens:   tokens,
		Logger:   log.With("component", "server"),
	})
	if err != nil {
		return err
	}

	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.Run(engineCtx)
	}()
	serveErr := make(chan error, len(lns))
	for _, l := range lns {
		go func() { serveErr <- srv.Serve(l) }()
	}
	lns = nil // the server owns them now
	if follow != nil {
		follow.serve = srv.Serve
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow.run(engineCtx)
		}()
	}
	log.Info("wslfwd-hostd running", "version", version.Version, "backend", be.Name(),
		"listen", addrs, "expose", s.expose, "state_dir", s.stateDir, "grace", s.cfg.Grace)
	if onListen != nil {
		onListen(addrs)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
		log.Error("server failed", "err", err)
	}
	// Stop the engine first: it ends the watch streams, so the server's
	// graceful stop only waits for short calls.
	stopEngine()
	wg.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Stop(stopCtx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// openBackend makes the named backend with a logger that names it once;
// the backends add no backend attribute of their own.
func openBackend(log *slog.Logger, name, stateDir string) (backend.Backend, error) {
	return newBackend(name, backendOptions{Logger: log.With("backend", name), StateDir: stateDir})
}

// newReconciler makes the reconciler, which logs each forward added or
// removed (the backends do not, so each is logged once).
func newReconciler(be backend.Backend, led *ledger.Ledger, log *slog.Logger) *reconcile.Reconciler {
	return reconcile.New(be, led, log.With("component", "reconcile"))
}
