//go:build linux

package labrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// DefaultGrace is the daemon's grace period in the lab: short, so tests
// that wait for it to pass stay quick.
const DefaultGrace = 1500 * time.Millisecond

// DefaultWait bounds each wait when the caller's context has no deadline.
const DefaultWait = 20 * time.Second

// Options configure Start.
type Options struct {
	// Dir holds logs, tokens and the daemon's state. Required.
	Dir string
	// Bin are the programs to run, from Build. Required.
	Bin Binaries
	// Grace is the daemon's grace period for gone agents; DefaultGrace
	// when zero.
	Grace time.Duration
	// Backend is the daemon's --backend; "relay" when empty.
	Backend string
	// DaemonArgs are extra flags for `wslfwd-hostd run`.
	DaemonArgs []string
}

// Env is a lab with the daemon running in winhost.
type Env struct {
	Lab *netlab.Lab
	Bin Binaries
	// Grace is the daemon's grace period.
	Grace time.Duration
	// Backend is the daemon's --backend. StartDaemon reads it, so a
	// restart may change it (the bench runs the kernel backend last).
	Backend string
	// StateDir is the daemon's --state-dir.
	StateDir string
	// TokenFile is the daemon's --token-file: the admin token, which the
	// lab's CLI calls and gRPC client use.
	TokenFile string
	// AgentTokenFile is the daemon's --agent-token-file, the token agents
	// use: it may open agent sessions and nothing else.
	AgentTokenFile string
	// Daemon is the running daemon.
	Daemon *netlab.Proc
	// Control is a ControlService client whose connections are opened
	// inside winhost, to the daemon's loopback listener.
	Control wslfwdv1.ControlServiceClient

	dir        string
	daemonArgs []string
	conn       *grpc.ClientConn
	mu         sync.Mutex
	agents     map[string]*netlab.Proc
	// daemonStopping is set between StopDaemon and the next StartDaemon,
	// when the daemon being gone is expected.
	daemonStopping bool
}

// DaemonLoopback is where the daemon listens inside winhost for the CLI.
var DaemonLoopback = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), endpoint.DefaultPort)

// DaemonWSL is where the daemon listens for agents: the host's vEthernet
// address, the distro's default gateway.
var DaemonWSL = netip.AddrPortFrom(netlab.HostWSLAddr.Addr(), endpoint.DefaultPort)

// Start builds a lab, starts the daemon in winhost and waits until it
// answers. On error everything is torn down.
func Start(ctx context.Context, o Options) (_ *Env, err error) {
	if o.Dir == "" || o.Bin.Daemon == "" {
		return nil, errors.New("labrun: Options.Dir and Options.Bin are required")
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	lab, err := netlab.New(o.Dir)
	if err != nil {
		return nil, err
	}
	e := &Env{
		Lab:            lab,
		Bin:            o.Bin,
		Grace:          o.Grace,
		Backend:        cmp.Or(o.Backend, "relay"),
		StateDir:       filepath.Join(o.Dir, "state"),
		TokenFile:      filepath.Join(o.Dir, "admin.token"),
		AgentTokenFile: filepath.Join(o.Dir, "agent.token"),
		dir:            o.Dir,
		daemonArgs:     o.DaemonArgs,
		agents:         map[string]*netlab.Proc{},
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	if err := e.StartDaemon(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// StartDaemon starts `wslfwd-hostd run` in winhost with e.Backend
// and waits until it serves ListAgents with the admin token (it creates
// the admin and agent tokens at first start). Start calls it; call it again after StopDaemon
// to test a daemon restart.
func (e *Env) StartDaemon(ctx context.Context) error {
	args := []string{"run",
		"--backend", e.Backend,
		"--listen", DaemonWSL.String(),
		"--listen", DaemonLoopback.String(),
		"--expose-address", "0.0.0.0",
		"--state-dir", e.StateDir,
		"--token-file", e.TokenFile,
		"--agent-token-file", e.AgentTokenFile,
		"--grace", e.Grace.String(),
	}
	args = append(args, e.daemonArgs...)
	p, err := e.Lab.Start("daemon", e.Lab.WinHost.Command(context.Background(), e.Bin.Daemon, args...))
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.Daemon, e.daemonStopping = p, false
	e.mu.Unlock()
	if err := e.Wait(ctx, "the daemon's token files", func(context.Context) (bool, error) {
		if _, err := token.Load(e.TokenFile); err != nil {
			return false, err
		}
		_, err := token.Load(e.AgentTokenFile)
		return err == nil, err
	}); err != nil {
		return err
	}
	if err := e.connect(); err != nil {
		return err
	}
	return e.Wait(ctx, "the daemon to answer ListAgents", func(ctx context.Context) (bool, error) {
		_, err := e.Control.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
		return err == nil, err
	})
}

// StopDaemon stops the daemon with SIGTERM (SIGKILL after 5 s).
func (e *Env) StopDaemon() error {
	e.mu.Lock()
	p := e.Daemon
	e.daemonStopping = true
	e.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.Stop(5 * time.Second); err != nil && !isSignalExit(err) {
		return fmt.Errorf("stop daemon: %w", err)
	}
	return nil
}

// connect (re)makes the gRPC client: the token may have just been created.
func (e *Env) connect() error {
	tok, err := token.Load(e.TokenFile)
	if err != nil {
		return err
	}
	if e.conn != nil {
		e.conn.Close()
	}
	winhost := e.Lab.WinHost
	creds := []grpc.DialOption{grpc.WithTransportCredentials(tokentls.ClientOf(tok)), grpc.WithPerRPCCredentials(tokentls.Bearer{})}
	if e.Bin.Plaintext {
		creds = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(plainToken(tok))}
	}
	conn, err := grpc.NewClient("passthrough:///"+DaemonLoopback.String(), append(creds,
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return winhost.Dial(ctx, "tcp", addr)
		}),
	)...)
	if err != nil {
		return fmt.Errorf("gRPC client for the daemon: %w", err)
	}
	e.conn = conn
	e.Control = wslfwdv1.NewControlServiceClient(conn)
	return nil
}

// plainToken sends a token without transport security, as the clients of
// a daemon that predates TLS did (Binaries.Plaintext).
type plainToken string

func (p plainToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{token.MetadataKey: token.Header(string(p))}, nil
}

func (plainToken) RequireTransportSecurity() bool { return false }

// AgentOptions configure StartAgent.
type AgentOptions struct {
	// Distro is the agent's --distro. Required; also names its log.
	Distro string
	// NS is where the agent runs; the lab's wsl when nil.
	NS *netlab.NS
	// Mode is --networking-mode; "nat" when empty.
	Mode string
	// Host is --host; empty lets the agent find the daemon itself (the
	// default gateway in NAT mode, loopback in mirrored mode).
	Host string
	// Args are extra flags.
	Args []string
	// Program is the agent to run; Env.Bin.Agent when empty (another
	// version's, for the upgrade tests, which is given no --status-socket).
	Program string
	// Enter is a command line the agent is started through, inside NS:
	// e.g. nsenter into a distro's own PID and mount namespaces.
	Enter []string
	// NoWait skips waiting for the agent to show as connected.
	NoWait bool
}

// StartAgent starts `wslfwd-agent run` and waits until the daemon lists it
// as connected. An agent already running under the same distro name is
// replaced only after StopAgent or KillAgent.
func (e *Env) StartAgent(ctx context.Context, o AgentOptions) (*netlab.Proc, error) {
	if o.Distro == "" {
		return nil, errors.New("start agent: a distro name is required")
	}
	if o.NS == nil {
		o.NS = e.Lab.WSL
	}
	if o.Mode == "" {
		o.Mode = "nat"
	}
	e.mu.Lock()
	if p, ok := e.agents[o.Distro]; ok {
		if exited, _ := p.Exited(); !exited {
			e.mu.Unlock()
			return nil, fmt.Errorf("start agent %s: one is already running (pid %d)", o.Distro, p.Pid())
		}
	}
	e.mu.Unlock()
	args := []string{"run",
		"--token-file", e.AgentTokenFile,
		"--networking-mode", o.Mode,
		"--distro", o.Distro,
		"--log-level", "info",
	}
	if o.Program == "" || o.Program == e.Bin.Agent {
		// Another version's agent may predate --status-socket.
		args = append(args, "--status-socket", e.StatusSocket(o.Distro))
	}
	if o.Host != "" {
		args = append(args, "--host", o.Host)
	}
	args = append(args, o.Args...)
	argv := append(slices.Clone(o.Enter), cmp.Or(o.Program, e.Bin.Agent))
	cmd := o.NS.Command(context.Background(), argv[0], append(argv[1:], args...)...)
	cmd.Env = append(os.Environ(), "WSL_DISTRO_NAME="+o.Distro)
	p, err := e.Lab.Start("agent-"+o.Distro, cmd)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.agents[o.Distro] = p
	e.mu.Unlock()
	if o.NoWait {
		return p, nil
	}
	err = e.Wait(ctx, "agent "+o.Distro+" to connect", func(ctx context.Context) (bool, error) {
		a, err := e.Agent(ctx, o.Distro)
		return a != nil && a.GetConnected(), err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// StatusSocket is where the agent of distro serves its status: in the
// lab's directory, so labs and agents running at once never share one.
func (e *Env) StatusSocket(distro string) string {
	return filepath.Join(e.dir, "status-"+distro, "agent.sock")
}

// AgentStatus runs `wslfwd-agent status` in wsl against distro's agent
// and returns its standard output.
func (e *Env) AgentStatus(ctx context.Context, distro string, args ...string) (string, error) {
	full := append([]string{"status", "--status-socket", e.StatusSocket(distro)}, args...)
	return output(e.Lab.WSL.Command(ctx, e.Bin.Agent, full...), "wslfwd-agent", full)
}

// AgentProc returns the latest agent process started for distro.
func (e *Env) AgentProc(distro string) *netlab.Proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.agents[distro]
}

// KillAgent SIGKILLs the agent of distro, as a crash would.
func (e *Env) KillAgent(distro string) error {
	p := e.AgentProc(distro)
	if p == nil {
		return fmt.Errorf("kill agent %s: not started", distro)
	}
	return p.Kill()
}

// Agent returns the daemon's record of distro's agent, or nil when the
// daemon does not list it.
func (e *Env) Agent(ctx context.Context, distro string) (*wslfwdv1.Agent, error) {
	r, err := e.Control.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListAgents: %w", err)
	}
	for _, a := range r.GetAgents() {
		if a.GetDistro() == distro {
			return a, nil
		}
	}
	return nil, nil
}

// Forwards returns ListForwards; with all, listeners not forwarded too.
func (e *Env) Forwards(ctx context.Context, all bool) ([]*wslfwdv1.Forward, error) {
	r, err := e.Control.ListForwards(ctx, &wslfwdv1.ListForwardsRequest{All: all})
	if err != nil {
		return nil, fmt.Errorf("ListForwards: %w", err)
	}
	return r.GetForwards(), nil
}

// Match selects forwards by protocol and listen port; a zero field
// matches anything.
type Match struct {
	Protocol wslfwdv1.Protocol
	Port     uint32 // host port (listen_port)
	State    wslfwdv1.ForwardState
	Connect  netip.Addr // connect_address
	Distro   string     // the distro the forward is credited to
}

func (m Match) matches(f *wslfwdv1.Forward) bool {
	return (m.Protocol == 0 || f.GetProtocol() == m.Protocol) &&
		(m.Port == 0 || f.GetListenPort() == m.Port) &&
		(m.State == 0 || f.GetState() == m.State) &&
		(!m.Connect.IsValid() || f.GetConnectAddress() == m.Connect.String()) &&
		(m.Distro == "" || f.GetDistro() == m.Distro)
}

func (m Match) String() string {
	var parts []string
	if m.Protocol != 0 {
		parts = append(parts, strings.ToLower(strings.TrimPrefix(m.Protocol.String(), "PROTOCOL_")))
	}
	if m.Port != 0 {
		parts = append(parts, "port "+strconv.Itoa(int(m.Port)))
	}
	if m.State != 0 {
		parts = append(parts, strings.TrimPrefix(m.State.String(), "FORWARD_STATE_"))
	}
	if m.Connect.IsValid() {
		parts = append(parts, "→ "+m.Connect.String())
	}
	if m.Distro != "" {
		parts = append(parts, "distro "+m.Distro)
	}
	if len(parts) == 0 {
		return "any forward"
	}
	return strings.Join(parts, ", ")
}

// Select returns the forwards (ListForwards with all) that m matches.
func (e *Env) Select(ctx context.Context, m Match) ([]*wslfwdv1.Forward, error) {
	fs, err := e.Forwards(ctx, true)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(fs, func(f *wslfwdv1.Forward) bool { return !m.matches(f) }), nil
}

// WaitForward waits until exactly one forward matches m and returns it.
func (e *Env) WaitForward(ctx context.Context, m Match) (*wslfwdv1.Forward, error) {
	var got *wslfwdv1.Forward
	err := e.Wait(ctx, "a forward ("+m.String()+")", func(ctx context.Context) (bool, error) {
		fs, err := e.Select(ctx, m)
		if err != nil {
			return false, err
		}
		if len(fs) > 1 {
			return false, fmt.Errorf("%d forwards match, want one: %v", len(fs), fs)
		}
		if len(fs) == 1 {
			got = fs[0]
			return true, nil
		}
		return false, nil
	})
	return got, err
}

// WaitNoForward waits until no forward matches m.
func (e *Env) WaitNoForward(ctx context.Context, m Match) error {
	return e.Wait(ctx, "no forward ("+m.String()+")", func(ctx context.Context) (bool, error) {
		fs, err := e.Select(ctx, m)
		if err != nil {
			return false, err
		}
		if len(fs) > 0 {
			return false, fmt.Errorf("still listed: %v", fs)
		}
		return true, nil
	})
}

// CLI runs the wslfwd command in winhost against the daemon's loopback
// listener with the admin token, and returns its standard output.
func (e *Env) CLI(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--host", DaemonLoopback.String(), "--token-file", e.TokenFile}, args...)
	return output(e.Lab.WinHost.Command(ctx, e.Bin.CLI, full...), "wslfwd", args)
}

// CLIJSON runs the wslfwd command with -o json as CLI does and decodes
// its output into m, the command's response message.
func (e *Env) CLIJSON(ctx context.Context, m proto.Message, args ...string) error {
	args = append(slices.Clone(args), "-o", "json")
	out, err := e.CLI(ctx, args...)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		return fmt.Errorf("wslfwd %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// CLIFromWSL runs the wslfwd command in wsl as a user in distro would:
// WSL_DISTRO_NAME set and no --host, so the CLI finds the daemon itself
// (the default gateway in NAT mode). It uses the admin token.
func (e *Env) CLIFromWSL(ctx context.Context, distro string, args ...string) (string, error) {
	full := append([]string{"--token-file", e.TokenFile}, args...)
	cmd := e.Lab.WSL.Command(ctx, e.Bin.CLI, full...)
	cmd.Env = append(os.Environ(), "WSL_DISTRO_NAME="+distro)
	return output(cmd, "wslfwd", args)
}

// output runs cmd, program prog with args, and returns its standard
// output; a failure carries its standard error.
func output(cmd *exec.Cmd, prog string, args []string) (string, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", prog, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// Close stops everything and deletes the lab's namespaces.
func (e *Env) Close() error {
	if e.conn != nil {
		e.conn.Close()
	}
	return e.Lab.Close()
}

// Logs returns the tail of the daemon's and every agent's log, for error
// messages.
func (e *Env) Logs(lines int) string {
	e.mu.Lock()
	procs := []*netlab.Proc{}
	if e.Daemon != nil {
		procs = append(procs, e.Daemon)
	}
	distros := make([]string, 0, len(e.agents))
	for d := range e.agents {
		distros = append(distros, d)
	}
	slices.Sort(distros)
	for _, d := range distros {
		procs = append(procs, e.agents[d])
	}
	e.mu.Unlock()
	var b strings.Builder
	for _, p := range procs {
		state := "running"
		if exited, err := p.Exited(); exited {
			state = fmt.Sprintf("exited: %v", err)
		}
		fmt.Fprintf(&b, "--- %s (pid %d, %s), last %d lines of %s:\n%s\n", p.Name, p.Pid(), state, lines, p.LogPath, p.Tail(lines))
	}
	return b.String()
}
