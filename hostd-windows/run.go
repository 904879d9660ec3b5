package main

import (
	"cmp"
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
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/internal/filelock"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// backendOptions carries what a backend constructor may need.
type backendOptions struct {
	Logger   *slog.Logger     // never nil
	StateDir string           // the daemon's state directory, already created
	Metrics  *metrics.Metrics // never nil: what the backend counts goes here
	Relay    relay.Options    // the relay's, Logger included
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
	metricsListen  string
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "config file (TOML); flags given explicitly override it")
	fs.StringVar(&f.backend, "backend", "", "forwarding backend: portproxy (Windows), relay or kernel (Linux) (default: "+defaultBackendName()+")")
	fs.StringArrayVar(&f.listen, "listen", nil, "address:port for the gRPC server; repeatable (default: the WSL-facing address and loopback)")
	fs.StringVar(&f.exposeAddress, "expose-address", "", "host address forwards listen on (default 0.0.0.0)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the ownership ledger (portproxy), static forwards and tokens (default "+defaultStateDir()+")")
	fs.StringVar(&f.tokenFile, "token-file", "", "admin token file, created at first start (default <state-dir>/token)")
	fs.StringVar(&f.readTokenFile, "read-token-file", "", "read-only token file for status and listing calls, created if missing (default on Windows "+token.ReadFileName+" beside the admin token, readable by Users; elsewhere no read token)")
	fs.StringVar(&f.agentTokenFile, "agent-token-file", "", "token file for agents, created if missing (default agent.token beside the admin token)")
	fs.DurationVar(&f.grace, "grace", 0, "how long a gone agent's forwards stay up (default "+config.DefaultGrace.String()+")")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFile, "log-file", "", fmt.Sprintf("log to this file instead of stderr, rotated at %d MiB, %d old files kept",
		logfile.MaxSizeMiB, logfile.MaxBackups))
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "serve Prometheus figures at http://<this>/metrics; loopback only, e.g. 127.0.0.1:9180 (default off)")
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			setRuntime()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDaemon(ctx, cmd.Flags(), &f, nil)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// setRuntime runs the daemon's Go code on one thread and gives it a soft
// memory limit, each unless GOMAXPROCS or GOMEMLIMIT in the environment
// says otherwise; `run` and the service call it, tests that run the daemon
// in process do not.
//
// One thread: Handling a message takes
// microseconds, handed from goroutine to goroutine (the gRPC reader, the
// stream's handler, the engine, the relay's accept), and with a second P
// each hand-off also woke another OS thread to look for work. On the lab's
// 2-vCPU VM, paired runs of 150 trials gave time to forward p50 1.31 ms on
// one thread against 1.50 on two (six pairs), and 1.40-1.64 against
// 1.49-1.77 (three more); daemon CPU under 100 changes a second fell from
// 3.9-5.1 % to 3.1-3.7 %. A flood of connections cannot outrun one thread
// because the limiter's Accept yields after closing connections past the
// limits (server/listener.go). The agent does the same
// (agent-linux/main_linux.go).
//
// The memory limit: without one the heap may grow to twice what is live
// before a collection, and under a flood of refused calls and unread
// streams (garbage, mostly) the daemon's peak RSS came within a MiB of
// the 100 MiB that SECURITY.md promises, and past it once in CI
// (TestUnreadWatchStreams: 92-101 MiB; 74 MiB with the limit). It is
// soft: past it the runtime collects more often, and never refuses
// memory; a daemon with 1,000 forwards holds about 35 MiB.
func setRuntime() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// memoryLimit is the daemon's soft memory limit (setRuntime).
const memoryLimit = 64 << 20

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

// settings are the resolved settings of one run, of the service, or of
// the commands that find the service's files: the config with the flags
// given explicitly applied over it, and what follows from it.
type settings struct {
	cfg            *config.Config // validated
	level          slog.Level
	listen         []netip.AddrPort
	followWSL      bool // also listen on the WSL adapter's address, following it
	stateDir       string
	tokenFile      string
	readTokenFile  string
	agentTokenFile string
	configFile     string // the --config given; "" for none
}

// port is the daemon's gRPC port: the first listen address's.
func (s *settings) port() uint16 { return s.listen[0].Port() }

// resolve merges config file, explicit flags and defaults.
func resolve(fs *pflag.FlagSet, f *runFlags) (*settings, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg, err := loadConfig(fs, f)
	if err != nil {
		return nil, err
	}
	s := &settings{cfg: cfg, level: level, configFile: f.config}
	if s.listen, s.followWSL, err = listenAddrs(cfg.Listen); err != nil {
		return nil, err
	}
	s.stateDir = cmp.Or(cfg.StateDir, defaultStateDir())
	s.tokenFile = cfg.TokenPath(s.stateDir)
	s.agentTokenFile = cmp.Or(cfg.AgentTokenFile, filepath.Join(filepath.Dir(s.tokenFile), "agent.token"))
	s.readTokenFile = readTokenPath(cfg.ReadTokenFile, s.tokenFile, readTokenByDefault)
	return s, nil
}

// readTokenPath is the read token file: the configured one, else, when
// byDefault, read.token beside the admin token, else none ("").
func readTokenPath(configured, tokenFile string, byDefault bool) string {
	if configured != "" || !byDefault {
		return configured
	}
	return filepath.Join(filepath.Dir(tokenFile), token.ReadFileName)
}

// loadConfig reads the config file, or takes the defaults, applies the
// flags given explicitly over it and validates the result.
func loadConfig(fs *pflag.FlagSet, f *runFlags) (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	f.applyTo(cfg, fs.Changed)
	if cfg.Backend == "" {
		// Before Validate: some checks depend on the backend (portproxy
		// never listens on loopback), and the platform's default counts.
		cfg.Backend = defaultBackendName()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyTo sets in cfg the settings whose flags were given (set).
func (f *runFlags) applyTo(cfg *config.Config, set func(name string) bool) {
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
	if set("metrics-listen") {
		cfg.MetricsListen = f.metricsListen
	}
}

// listenAddrs parses the listen addresses; with none, the platform's
// default, and the WSL adapter's address is followed too.
func listenAddrs(listen []string) (addrs []netip.AddrPort, followWSL bool, err error) {
	if len(listen) == 0 {
		listen, followWSL = defaultListenAddrs(), true
	}
	for _, l := range listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil {
			return nil, false, fmt.Errorf("listen address %q: want address:port, e.g. 127.0.0.1:17810: %w", l, err)
		}
		addrs = append(addrs, ap)
	}
	return addrs, followWSL, nil
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
// role, or another account, the admin's rights. Only the read token may
// be read by others (fileperm.CheckReadShared): that is what it is for.
func loadTokens(s *settings, log *slog.Logger) (server.Tokens, error) {
	var t server.Tokens
	var loaded []token.RoleFile
	for _, x := range []struct {
		path  string
		dst   *string
		role  string
		check func(path string) error
	}{
		{s.tokenFile, &t.Admin, "admin", fileperm.CheckPrivate},
		{s.agentTokenFile, &t.Agent, "agent", fileperm.CheckPrivate},
		{s.readTokenFile, &t.Read, "read", fileperm.CheckReadShared},
	} {
		if x.path == "" {
			continue
		}
		tok, created, err := token.LoadOrCreate(x.path)
		if err != nil {
			return t, fmt.Errorf("%s token: %w", x.role, err)
		}
		if err := x.check(x.path); err != nil {
			return t, fmt.Errorf("%s token: %w", x.role, err)
		}
		if created {
			log.Info("created token file", "role", x.role, "path", x.path)
		}
		*x.dst = tok
		loaded = append(loaded, token.RoleFile{Role: x.role, Path: x.path, Token: tok})
	}
	return t, token.CheckDistinct(loaded)
}

// prepareStateDir creates the state directory (owner-only) and refuses
// one that others may use: it holds the tokens, the ledger and the log.
func prepareStateDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	if err := fileperm.CheckPrivate(dir); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return lockStateDir(dir)
}

// stateLock is the file in the state directory whose lock a daemon holds
// while it runs.
const stateLock = "daemon.lock"

// lockStateDir takes the state directory for this process. Two daemons
// on one state directory would each rewrite the ledger with what it alone
// knows, forget the other's entries, and remove them once their grace
// ran out; so the second one is refused, with why. It waits stateLockWait
// for the lock first: Windows may hold a crashed daemon's lock a while
// after the service manager has started the next one.
func lockStateDir(dir string) (*os.File, error) {
	f, err := filelock.LockWait(filepath.Join(dir, stateLock), stateLockWait, stateLockRetry)
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("state directory %s: another wslfwd-hostd has used it for the last %s (%w)", dir, stateLockWait, err)
	}
	return f, err
}

// stateLockWait bounds the wait for the state directory's lock; a second
// daemon started by hand is refused after it (tests shorten it).
var stateLockWait = 10 * time.Second

// stateLockRetry is how often the lock is tried meanwhile.
const stateLockRetry = 100 * time.Millisecond

// runDaemon runs until ctx ends, then shuts down: it stops serving, stops
// the engine and closes the backend (relay forwards end with the process;
// portproxy entries persist and are adopted at the next start).
func runDaemon(ctx context.Context, fs *pflag.FlagSet, f *runFlags, onListen func([]netip.AddrPort)) error {
	s, err := resolve(fs, f)
	if err != nil {
		return err
	}
	log, logOut := newLogger(s.cfg.LogFile, s.level)
	if logOut != nil {
		defer logOut.Close()
	}
	lock, err := prepareStateDir(s.stateDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	// netsh's script files go to the state directory, which only the
	// daemon's account may use, not to a user's %TEMP%.
	winexec.SetScriptDir(s.stateDir)
	m := metrics.New()
	be, err := openBackend(log, s.cfg, s.stateDir, m)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	defer func() {
		if err := be.Close(); err != nil {
			log.Warn("close backend", "err", err)
		}
	}()
	tokens, err := loadTokens(s, log)
	if err != nil {
		return err
	}
	lns, err := listen(s.listen, log)
	if err != nil {
		return err
	}
	ml, err := listenMetrics(s.cfg)
	if err != nil {
		closeAll(lns)
		return err
	}
	d, follow, err := newDaemon(s, be, tokens, lns, metricsEndpoint{m, ml}, log)
	if err != nil {
		closeAll(append(lns, ml...))
		return err
	}
	return serve(ctx, d, follow, s, log, onListen)
}

func closeAll(lns []net.Listener) {
	for _, l := range lns {
		l.Close()
	}
}

// listenMetrics opens the metrics endpoint's listener when metrics_listen
// is set: none or one.
func listenMetrics(cfg *config.Config) ([]net.Listener, error) {
	addr, on := cfg.MetricsAddr()
	if !on {
		return nil, nil
	}
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("metrics_listen: %w", err)
	}
	return []net.Listener{l}, nil
}

// metricsEndpoint are the daemon's figures and the listener, if any, that
// serves them.
type metricsEndpoint struct {
	m  *metrics.Metrics
	ln []net.Listener // none or one
}

// listen opens the gRPC server's listeners.
func listen(addrs []netip.AddrPort, log *slog.Logger) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		if a.Addr().IsUnspecified() {
			log.Warn("listening on every address: agents and clients anywhere can reach the daemon", "listen", a)
		}
		l, err := net.Listen("tcp", a.String())
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("listen on %s: %w", a, err)
		}
		lns = append(lns, l)
	}
	return lns, nil
}

// newDaemon wires the platform's parts (the WSL adapter's address, the
// firewall, the host checks) into a daemon serving lns and the metrics
// endpoint.
func newDaemon(s *settings, be backend.Backend, tokens server.Tokens, lns []net.Listener, me metricsEndpoint, log *slog.Logger) (*daemon.Daemon, *follower, error) {
	// The WSL adapter's address is followed on the daemon's (first) port.
	var follow *follower
	if lookup, onChange := wslAdapter(); s.followWSL && lookup != nil {
		follow = &follower{lookup: lookup, onChange: onChange, port: uint16(lns[0].Addr().(*net.TCPAddr).Port),
			interval: 2 * time.Second, recheck: firewall.RecheckEvery, log: log.With("component", "listen")}
	}
	o := daemon.Options{
		Config:            s.cfg,
		Backend:           be,
		StateDir:          s.stateDir,
		Listeners:         lns,
		Tokens:            tokens,
		Metrics:           me.m,
		MovingListenAddrs: follow.listenAddrs(),
		Problems: func(ctx context.Context) []*wslfwdv1.Problem {
			return append(platformProblems(ctx, be.Name()), follow.problems()...)
		},
		Logger: log,
	}
	var err error
	if s.cfg.Firewall {
		if o.Firewall, err = newFirewall(log.With("component", "firewall"), s.cfg.FirewallProfiles); err != nil {
			return nil, nil, err
		}
	} else {
		o.FirewallAudit = newFirewallAuditor(log.With("component", "firewall"))
	}
	if len(me.ln) > 0 {
		o.MetricsListener = me.ln[0]
	}
	d, err := daemon.New(o)
	return d, follow, err
}

// serve runs the daemon, and the follower if any, until ctx ends.
func serve(ctx context.Context, d *daemon.Daemon, follow *follower, s *settings, log *slog.Logger, onListen func([]netip.AddrPort)) error {
	if follow != nil {
		follow.serve = d.Serve
		followCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			follow.run(followCtx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	log.Info("wslfwd-hostd running", "version", version.Version, "backend", s.cfg.Backend,
		"listen", d.Addrs(), "expose", s.cfg.Expose(), "state_dir", s.stateDir, "grace", s.cfg.Grace)
	if onListen != nil {
		onListen(d.Addrs())
	}
	return d.Run(ctx)
}

// openBackend makes the backend cfg names with a logger that names it
// once; the backends add no backend attribute of their own.
func openBackend(log *slog.Logger, cfg *config.Config, stateDir string, m *metrics.Metrics) (backend.Backend, error) {
	log = log.With("backend", cfg.Backend)
	return newBackend(cfg.Backend, backendOptions{Logger: log, StateDir: stateDir, Metrics: m, Relay: relay.Options{
		Logger:      log,
		MaxTCPConns: cfg.RelayMaxPerForward,
		MaxUDPFlows: cfg.RelayMaxPerForward,
		MaxClients:  cfg.RelayMaxClients,
	}})
}
