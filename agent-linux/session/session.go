// Package session keeps the agent's one gRPC stream to the daemon alive
// and the daemon's view of the distro true.
//
// Every stream starts with a hello and a full snapshot of the current state;
// after that the session sends the difference between what it last sent on
// this stream and the current state whenever the state changes. Nothing is
// queued across streams, so after a reconnect the daemon gets the truth as
// it is then, never a replay of stale changes.
package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// State is the agent core as the session uses it (a *tracker.Tracker).
type State interface {
	Current() (tracker.State, <-chan struct{})
	// Changes is tracker.Diff, made cheap for states the tracker made.
	Changes(old, cur tracker.State, seq uint64) *wslfwdv1.Changes
	Refresh() error
	Show(inode uint64)
	Hide(inode uint64)
}

// Listener opens the probe echo listeners; *net.ListenConfig is one.
type Listener interface {
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

// Config configures a session.
type Config struct {
	// Addr is the daemon's host:port and Why says why that address (for
	// error messages, e.g. "NAT mode: the host is the IPv4 default gateway").
	Addr, Why string
	// TokenFile holds the bearer token; it is read again for every stream.
	TokenFile string
	// Hello is sent first on every stream.
	Hello *wslfwdv1.AgentHello
	State State
	// Listen opens echo listeners; nil means the agent's own namespace.
	Listen Listener
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 100ms and 10s); each wait is random up to the current bound (full
	// jitter), so many agents do not retry in step.
	MinBackoff, MaxBackoff time.Duration
	// DialOptions are added to the defaults (tests).
	DialOptions []grpc.DialOption
	// PeerOwner, if set, says which uid owns the other end of a new
	// connection to the daemon when that end is a socket in the agent's
	// own network namespace (found false: it is not). The agent sends its
	// token on no connection whose other end a user other than root holds
	// in the distro (see checkPeer).
	PeerOwner func(local, remote netip.AddrPort) (uid uint32, found bool, err error)
}

// Session is the agent's side of its stream to the daemon, kept open
// across reconnects. Create it with New and Run it.
type Session struct {
	cfg   Config
	book  statusBook
	link  link
	syncs chan chan (<-chan struct{}) // Report's requests to the stream
}

// New returns a session for cfg, with its defaults filled in.
func New(cfg Config) *Session {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == nil {
		cfg.Listen = &net.ListenConfig{}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	return &Session{cfg: cfg, syncs: make(chan chan (<-chan struct{}))}
}

// Run keeps the session open until ctx is done, reconnecting after every
// failure. It returns an error only when the client cannot be set up.
func (s *Session) Run(ctx context.Context) error {
	local := localAddr{owner: s.cfg.PeerOwner, log: s.cfg.Logger}
	opts := dialOptions(s.cfg, &local)
	dial := func() (*grpc.ClientConn, error) {
		c, err := grpc.NewClient(s.cfg.Addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("daemon address %s: %w", s.cfg.Addr, err)
		}
		return c, nil
	}
	conn, err := dial()
	if err != nil {
		return err
	}
	defer func() { conn.Close() }()
	// redial drops the connection for a new one, whose handshake reads
	// the token file again.
	redial := func() error {
		conn.Close()
		local.set(netip.Addr{})
		c, err := dial()
		if err == nil {
			conn = c
		}
		return err
	}

	wait := backoff{min: s.cfg.MinBackoff, max: s.cfg.MaxBackoff}
	var lastErr string
	var told tracker.Set // what the last stream sent, kept to over the limit
	for {
		st := &stream{cfg: s.cfg, local: local.get, book: &s.book, link: &s.link, syncs: s.syncs, told: told}
		err := st.run(ctx, wslfwdv1.NewAgentServiceClient(conn))
		if st.seq > 0 {
			told = st.sent.Listeners
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errLocalGone) {
			// The old TCP connection is dead but gRPC would wait for its
			// keepalive to say so: drop it and dial afresh, at once.
			s.cfg.Logger.Info("reconnecting: " + err.Error())
			s.link.down(err.Error(), time.Now(), time.Now())
			if err := redial(); err != nil {
				return err
			}
			wait.reset()
			continue
		}
		if st.healthy(time.Now()) {
			wait.reset() // the daemon kept us a while: start the backoff afresh
		}
		msg := describe(s.cfg, err)
		if msg != lastErr {
			s.cfg.Logger.Warn(msg)
			lastErr = msg
		}
		pause := wait.next()
		s.link.down(msg, time.Now(), time.Now().Add(pause))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		if status.Code(err) == codes.Unauthenticated {
			// A connection carries the token its handshake read: only a
			// new one reads the file again.
			if err := redial(); err != nil {
				return err
			}
		}
	}
}

// gRPC keepalive: a ping after keepaliveTime without traffic, and the
// connection is dead when keepaliveTimeout passes without an answer (or
// with data unacknowledged: the socket's TCP_USER_TIMEOUT, see quiet).
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// maxReceived bounds one message from the daemon, on purpose rather than
// at gRPC's default (4 MiB): whoever holds the agent token may take the
// daemon's place. The largest a daemon sends is one status update for
// every listener at its highest limit (32,768), a few hundred bytes each:
// about 10 MiB.
const maxReceived = 16 << 20

// dialOptions are the client's options: the dialer that records the local
// address, and timings that suit one long-lived, quiet stream.
func dialOptions(cfg Config, local *localAddr) []grpc.DialOption {
	return append([]grpc.DialOption{
		grpc.WithContextDialer(local.dial),
		// The token goes only to a daemon that proves it holds it.
		grpc.WithTransportCredentials(tokentls.Client(func() (string, error) { return loadToken(cfg.TokenFile) })),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, whose PING round trips on every burst of received
		// data cost the agent wake-ups; its messages are small.
		grpc.WithInitialWindowSize(1 << 20),
		grpc.WithInitialConnWindowSize(1 << 20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReceived)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true,
		}),
		// gRPC's own reconnect backoff (default up to 2 minutes) must not
		// outlast the session's.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: cfg.MinBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: cfg.MaxBackoff},
			MinConnectTimeout: 5 * time.Second,
		}),
	}, cfg.DialOptions...)
}

// describe turns a stream's end into one plain sentence.
func describe(cfg Config, err error) string {
	var tokErr *tokenError
	switch st, _ := status.FromError(err); {
	case errors.As(err, &tokErr):
		return "cannot read the daemon's token: " + tokErr.Error()
	case st.Code() == codes.Unauthenticated:
		return fmt.Sprintf("the daemon at %s rejected the token from %s (%s); copy the daemon's token into that file",
			cfg.Addr, cfg.TokenFile, st.Message())
	case st.Code() == codes.Unavailable:
		if why, ok := tokentls.Unproven(st.Message()); ok {
			msg := fmt.Sprintf("what answers at %s (%s) did not prove it holds the token from %s, so the token was not sent: %s",
				cfg.Addr, cfg.Why, cfg.TokenFile, why)
			if strings.HasPrefix(why, tokentls.WhyPlaintext) {
				msg += "; a wslfwd-hostd older than this agent cannot prove it: upgrade the service (`wslfwd setup`)"
			}
			return msg
		}
		return fmt.Sprintf("daemon unreachable at %s (%s): %s", cfg.Addr, cfg.Why, st.Message())
	case err == nil:
		return fmt.Sprintf("the daemon at %s closed the session", cfg.Addr)
	default:
		return fmt.Sprintf("session with the daemon at %s ended: %v", cfg.Addr, err)
	}
}

// loadToken checks and loads the token file. It is checked at every
// connection, not only at start: a token file opened to the distro's users
// later must stop the agent using it.
func loadToken(path string) (string, error) {
	if err := fileperm.CheckNotShared(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", &tokenError{err}
	}
	tok, err := token.Load(path)
	if err != nil {
		return "", &tokenError{err}
	}
	return tok, nil
}

type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// errLocalGone ends a stream whose connection's own address has left the
// distro's interfaces (a WSL restart or a new address on eth0). The
// connection is dead, but TCP and gRPC keepalive would take about 15 s to
// say so; noticing it from the agent's own network state lets forwards
// follow a new address within milliseconds.
var errLocalGone = errors.New("this distro's address the daemon connection used is gone")

// localAddr remembers the local address of the connection to the daemon.
// Tests that bring their own dialer never set it, and the check is off.
type localAddr struct {
	mu    sync.Mutex
	a     netip.Addr
	owner func(local, remote netip.AddrPort) (uint32, bool, error) // Config.PeerOwner
	log   *slog.Logger
}

// errImpostor refuses a connection whose other end is a socket of a
// non-root user in the distro.
var errImpostor = errors.New("a process of this distro, not root's, answers on the daemon's address; the agent token is not sent to it")

// checkPeer refuses the connection from local to remote when its other
// end is a socket in the agent's own namespace that a user other than
// root owns. In mirrored mode the daemon is reached at 127.0.0.1, and a
// listener an unprivileged user opens there in the distro takes the
// agent's connections before Windows sees them. The TLS handshake would
// refuse it too, as it cannot prove it holds the token; this check
// refuses it first and names the user, which the handshake cannot. Root
// could read the token anyway, so a socket of root's (the lab's mirrored
// layout runs the daemon beside the agent) is let through; so is a
// connection whose other end is not in the namespace, and one the lookup
// cannot tell about (WSL1 has no sock_diag), which is logged.
func (l *localAddr) checkPeer(local, remote netip.AddrPort) error {
	if l.owner == nil {
		return nil
	}
	uid, found, err := l.owner(local, remote)
	switch {
	case err != nil:
		l.log.Warn("cannot tell who answers on the daemon's address; connecting anyway", "addr", remote, "err", err)
		return nil
	case found && uid != 0:
		return fmt.Errorf("%w (uid %d on %s)", errImpostor, uid, remote)
	}
	return nil
}

// dial is the gRPC context dialer that records the local address and
// makes the connection quiet (see quiet).
func (l *localAddr) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	la, lok := c.LocalAddr().(*net.TCPAddr)
	ra, rok := c.RemoteAddr().(*net.TCPAddr)
	if lok && rok {
		if err := l.checkPeer(la.AddrPort(), ra.AddrPort()); err != nil {
			c.Close()
			return nil, err
		}
	}
	if lok {
		l.set(la.AddrPort().Addr().Unmap())
	}
	q, err := quiet(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connection to %s: %w", addr, err)
	}
	return q, nil
}

func (l *localAddr) set(a netip.Addr) {
	l.mu.Lock()
	l.a = a
	l.mu.Unlock()
}

func (l *localAddr) get() netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.a
}

// hasAddr reports whether a is on one of n's interfaces.
func hasAddr(n *wslfwdv1.NetworkState, a netip.Addr) bool {
	for _, ifc := range n.GetInterfaces() {
		for _, ia := range ifc.GetAddresses() {
			if b, err := netip.ParseAddr(ia.GetAddress()); err == nil && b.WithZone("") == a {
				return true
			}
		}
	}
	return false
}
