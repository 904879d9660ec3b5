package main

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// startRun runs the daemon as `run args...` would and returns its gRPC
// address once it listens, and a function that stops it and returns
// runDaemon's error.
func startRun(t *testing.T, args ...string) (netip.AddrPort, func() error) {
	t.Helper()
	var f runFlags
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan netip.AddrPort, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, fs, &f, func(a []netip.AddrPort) { listening <- a[0] })
	}()
	var stopped bool
	var stopErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
		}
		return stopErr
	}
	t.Cleanup(func() { stop() })
	select {
	case a := <-listening:
		return a, stop
	case err := <-done:
		stopped = true
		t.Fatalf("daemon exited before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not start listening")
	}
	return netip.AddrPort{}, nil
}

// freeAddr returns a loopback address:port nothing listens on right now
// (the config refuses port 0).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dial(t *testing.T, addr netip.AddrPort, tok string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if tok != "" {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(tokentls.ClientOf(tok)), grpc.WithPerRPCCredentials(tokentls.Bearer{})}
	}
	cc, err := grpc.NewClient(addr.String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestRunCreatesTokensAndServes(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfgFile := filepath.Join(dir, "hostd.toml")
	// The relay backend by name: on Windows the default is portproxy,
	// which refuses a loopback expose address (it would collide with
	// WSL's localhost relay).
	if err := os.WriteFile(cfgFile, []byte("expose_address = \"127.0.0.1\"\ngrace = \"1m\"\nbackend = \"relay\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, stop := startRun(t, "--config", cfgFile, "--listen", freeAddr(t), "--state-dir", state,
		"--read-token-file", filepath.Join(dir, "read.token"), "--grace", "5s", "--log-level", "warn")

	for _, name := range []string{filepath.Join(state, "token"), filepath.Join(state, "agent.token"), filepath.Join(dir, "read.token")} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("token file: %v", err)
		}
		// Windows has no mode bits (Go reports 0666 for every writable
		// file); there the state directory's DACL guards the tokens.
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	admin, err := token.Load(filepath.Join(state, "token"))
	if err != nil {
		t.Fatal(err)
	}
	read, err := token.Load(filepath.Join(dir, "read.token"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := wslfwdv1.NewControlServiceClient(dial(t, addr, admin)).GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The config's expose address and backend stay (no flags), and the
	// daemon reports where it listens.
	if st.GetExposeAddress() != "127.0.0.1" || st.GetBackend() != "relay" || len(st.GetListenAddresses()) != 1 || st.GetListenAddresses()[0] != addr.String() {
		t.Fatalf("status = %v", st)
	}
	if _, err := wslfwdv1.NewControlServiceClient(dial(t, addr, read)).Expose(ctx, &wslfwdv1.ExposeRequest{Port: 80}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("read token on Expose: %v, want PermissionDenied", err)
	}
	h, err := healthpb.NewHealthClient(dial(t, addr, read)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	if _, err := healthpb.NewHealthClient(dial(t, addr, "")).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("health without a token: %v, want Unauthenticated", err)
	}
	// A second daemon on the same state directory, on another port, would
	// rewrite the ledger with what it alone knows: it is refused once the
	// wait for a crashed daemon's lock is over.
	shortLockWait(t)
	err = runDaemonArgs(ctx, []string{"--listen", freeAddr(t), "--state-dir", state, "--log-level", "warn"}, nil)
	if err == nil || !strings.Contains(err.Error(), "another wslfwd-hostd has used it") {
		t.Fatalf("a second daemon on the state directory: %v, want refused", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// A second start reuses the tokens.
	addr, _ = startRun(t, "--listen", freeAddr(t), "--state-dir", state, "--log-level", "warn")
	if _, err := wslfwdv1.NewControlServiceClient(dial(t, addr, admin)).GetStatus(ctx, &wslfwdv1.GetStatusRequest{}); err != nil {
		t.Fatalf("admin token after restart: %v", err)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hostd.toml")
	if err := os.WriteFile(cfgFile, []byte("grace = \"1m\"\nexpose_address = \"127.0.0.1\"\nbackend = \"relay\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var f runFlags
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--config", cfgFile, "--grace", "5s", "--state-dir", dir}); err != nil {
		t.Fatal(err)
	}
	s, err := resolve(fs, &f)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Grace != 5*time.Second {
		t.Errorf("grace = %v, want the flag's 5s", s.cfg.Grace)
	}
	if s.cfg.Expose() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("expose = %v, want the config's 127.0.0.1", s.cfg.Expose())
	}
	wantRead := readTokenPath("", filepath.Join(dir, "token"), readTokenByDefault) // read.token on Windows only
	if s.tokenFile != filepath.Join(dir, "token") || s.agentTokenFile != filepath.Join(dir, "agent.token") || s.readTokenFile != wantRead {
		t.Errorf("token files = %q %q %q", s.tokenFile, s.agentTokenFile, s.readTokenFile)
	}
	if len(s.listen) != 1 || s.listen[0] != netip.MustParseAddrPort("127.0.0.1:17810") {
		t.Errorf("listen = %v, want the default 127.0.0.1:17810", s.listen)
	}
}

func TestRunStartupErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("grace = \"soon\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"bad config":    {[]string{"--config", bad}, "grace"},
		"bad listen":    {[]string{"--listen", "localhost"}, "localhost"},
		"portproxy":     {[]string{"--backend", "portproxy"}, "only on Windows"},
		"unknown":       {[]string{"--backend", "carrier-pigeon"}, "carrier-pigeon"},
		"log level":     {[]string{"--log-level", "loud"}, "--log-level"},
		"extra arg":     {[]string{"surplus"}, "unexpected arguments"},
		"missing value": {[]string{"--grace"}, "grace"},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "portproxy" && runtime.GOOS == "windows" {
				t.Skip("portproxy is the backend Windows has: starting it is no error there")
			}
			args := append([]string{"--state-dir", filepath.Join(dir, name)}, tc.args...)
			err := runDaemonArgs(context.Background(), args, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// The read token file is found where configured, else beside the admin
// token where the platform keeps one by default (Windows), else nowhere.
func TestReadTokenPath(t *testing.T) {
	tok := filepath.Join("state", "token")
	for _, tc := range []struct {
		configured string
		byDefault  bool
		want       string
	}{
		{"", true, filepath.Join("state", "read.token")},
		{"", false, ""},
		{"r.token", true, "r.token"},
		{"r.token", false, "r.token"},
	} {
		if got := readTokenPath(tc.configured, tok, tc.byDefault); got != tc.want {
			t.Errorf("readTokenPath(%q, %q, %v) = %q, want %q", tc.configured, tok, tc.byDefault, got, tc.want)
		}
	}
}

// Only the read token may be readable by others; the admin and agent
// tokens never, and nobody else may write any of them.
func TestLoadTokensReadShared(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix mode bits: Windows has none (fileperm's and winsvc's Windows tests cover the ACLs)")
	}
	log := slog.New(slog.DiscardHandler)
	for name, tc := range map[string]struct {
		admin, agent, read os.FileMode
		want               string // "" for accepted
	}{
		"read token 0644":  {0o600, 0o600, 0o644, ""},
		"admin token 0644": {0o644, 0o600, 0o600, "admin token: "},
		"agent token 0644": {0o600, 0o644, 0o600, "agent token: "},
		"read token 0664":  {0o600, 0o600, 0o664, "read token: "},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := &settings{
				tokenFile:      writeMode(t, filepath.Join(dir, "token"), strings.Repeat("a", 64), tc.admin),
				agentTokenFile: writeMode(t, filepath.Join(dir, "agent.token"), strings.Repeat("b", 64), tc.agent),
				readTokenFile:  writeMode(t, filepath.Join(dir, "read.token"), strings.Repeat("c", 64), tc.read),
			}
			tokens, err := loadTokens(s, log)
			if tc.want == "" {
				if err != nil || tokens.Read != strings.Repeat("c", 64) {
					t.Fatalf("loadTokens = %+v, %v; want the read token loaded", tokens, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal starting %q", err, tc.want)
			}
		})
	}
}

// writeMode writes content to path with exactly mode (past the umask).
func writeMode(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// The daemon refuses to start with tokens that would give one role
// another's rights, or another account the admin's, and says how to fix
// it; nothing listens.
func TestRunRefusesUnsafeTokens(t *testing.T) {
	same := strings.Repeat("ab", 32)
	write := func(path, content string, mode os.FileMode) string { return writeMode(t, path, content, mode) }
	for name, tc := range map[string]struct {
		setup func(dir string) []string
		want  []string
		// modes: the case is about Unix mode bits, which Windows does not
		// have (its ACL checks are fileperm's own tests).
		modes bool
	}{
		"admin is agent": {func(dir string) []string {
			return []string{"--token-file", write(filepath.Join(dir, "s", "token"), same, 0o600),
				"--agent-token-file", write(filepath.Join(dir, "s", "agent.token"), same+"\n", 0o600)}
		}, []string{"the admin token (", "and the agent token (", "are the same", "delete ", "agent.token"}, false},
		"read is admin": {func(dir string) []string {
			return []string{"--token-file", write(filepath.Join(dir, "s", "token"), same, 0o600),
				"--read-token-file", write(filepath.Join(dir, "s", "read.token"), same, 0o600)}
		}, []string{"the admin token (", "and the read token (", "read.token and start the daemon again"}, false},
		"one file for two roles": {func(dir string) []string {
			p := filepath.Join(dir, "s", "token")
			return []string{"--token-file", p, "--agent-token-file", p}
		}, []string{"the admin token (", "and the agent token (", "are the same"}, false},
		"token readable by others": {func(dir string) []string {
			p := write(filepath.Join(dir, "s", "token"), same, 0o644)
			return []string{"--token-file", p}
		}, []string{"admin token: ", "mode 0644", "chmod 600 "}, true},
		"state dir open to others": {func(dir string) []string {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"state directory: ", "mode 0755", "chmod 700 "}, true},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.modes && runtime.GOOS == "windows" {
				t.Skip("Unix mode bits: Windows has none (fileperm's Windows tests cover its ACL checks)")
			}
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"--state-dir", dir, "--listen", freeAddr(t), "--backend", "relay"}, tc.setup(dir)...)
			// A daemon that wrongly starts is stopped, so the test fails
			// instead of hanging.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := runDaemonArgs(ctx, args, func() { t.Error("the daemon started listening"); cancel() })
			if err == nil {
				t.Fatal("the daemon started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// --log-file sends the daemon's log to a file (rotated by package
// logfile) instead of stderr.
func TestRunLogsToFile(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "logs", "hostd.log")
	if err := os.Mkdir(filepath.Dir(logPath), 0o700); err != nil {
		t.Fatal(err)
	}
	_, stop := startRun(t, "--listen", freeAddr(t), "--state-dir", filepath.Join(dir, "state"), "--backend", "relay",
		"--log-file", logPath)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wslfwd-hostd running", "shutting down"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log file lacks %q:\n%s", want, b)
		}
	}
}

// The daemon runs Go on one thread, with a soft memory limit, unless
// GOMAXPROCS or GOMEMLIMIT in the environment asks otherwise.
func TestSetRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		procs, memlimit string
		wantProcs       int
		wantLimit       int64
	}{{"", "", 1, memoryLimit}, {"2", "1GiB", 2, math.MaxInt64}} {
		t.Setenv("GOMAXPROCS", tc.procs)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		runtime.GOMAXPROCS(2)
		debug.SetMemoryLimit(math.MaxInt64)
		setRuntime()
		if got := runtime.GOMAXPROCS(0); got != tc.wantProcs {
			t.Errorf("GOMAXPROCS=%q in the environment: %d Ps, want %d", tc.procs, got, tc.wantProcs)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
			t.Errorf("GOMEMLIMIT=%q in the environment: limit %d, want %d", tc.memlimit, got, tc.wantLimit)
		}
	}
}

// shortLockWait cuts the wait for the state directory's lock for the
// test, which takes the lock itself.
func shortLockWait(t *testing.T) {
	old := stateLockWait
	stateLockWait = 200 * time.Millisecond
	t.Cleanup(func() { stateLockWait = old })
}
