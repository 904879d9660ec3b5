package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/version"
)

// agentService serves AgentService.Session: it reads the hello, hands every
// later message to the registry, and runs the session's outbox as the
// stream's one sender.
type agentService struct {
	wslfwdv1.UnimplementedAgentServiceServer
	stopping     <-chan struct{}
	helloTimeout time.Duration
	snapTimeout  time.Duration
	reg          *agents.Registry
	log          *slog.Logger
	maxPerPeer   int
	// metrics count the sessions refused past maxPerPeer, beside those
	// the registry refuses.
	metrics *metrics.Metrics
	// sessionLog bounds the lines of sessions opening and ending.
	sessionLog *logfile.Budget

	mu      sync.Mutex
	perPeer map[netip.Addr]int
}

func streamAddrs(ctx context.Context) (remote, local netip.AddrPort) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return
	}
	return addrPort(p.Addr), addrPort(p.LocalAddr)
}

func addrPort(a net.Addr) netip.AddrPort {
	if a == nil {
		return netip.AddrPort{}
	}
	// *net.TCPAddr, and *connAddr from the connection limiter.
	if t, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// acquire takes one of the peer's stream slots.
func (a *agentService) acquire(ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxPerPeer > 0 && a.perPeer[ip] >= a.maxPerPeer {
		return false
	}
	a.perPeer[ip]++
	return true
}

func (a *agentService) release(ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.perPeer[ip]--; a.perPeer[ip] <= 0 {
		delete(a.perPeer, ip)
	}
}

// recvHello waits for the session's first message, at most helloTimeout:
// a connection that never says hello must not hold a stream slot.
func (a *agentService) recvHello(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]) (*wslfwdv1.AgentMessage, error) {
	type result struct {
		m   *wslfwdv1.AgentMessage
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := st.Recv()
		ch <- result{m, err}
	}()
	t := time.NewTimer(a.helloTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-t.C:
		// Returning ends the stream, which ends the Recv above.
		return nil, status.Errorf(codes.DeadlineExceeded, "no hello within %s", a.helloTimeout)
	}
}

// receive hands the session's messages to the registry until one fails
// or the stream ends. Once a snapshot registers the session it stops
// noSnapshot, the session's snapshot deadline; a snapshot answered with a
// resync does not.
func (a *agentService) receive(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage], s *agents.Session, noSnapshot *time.Timer) error {
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		if err := a.reg.Apply(s, m); err != nil {
			return err
		}
		if m.GetSnapshot() != nil && a.reg.Registered(s) {
			noSnapshot.Stop()
		}
	}
}

// Session serves one agent's stream: a hello within helloTimeout, at most
// maxPerPeer sessions per peer address, then the registry's session until
// either end stops.
func (a *agentService) Session(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]) error {
	ctx := st.Context()
	if p, ok := peer.FromContext(ctx); ok {
		defer holdSession(p.Addr)()
	}
	remote, local := streamAddrs(ctx)
	ip := agents.Source(remote, local) // all of loopback is one source, all of the WSL network another
	if !a.acquire(ip) {
		a.metrics.AgentRefused(codes.ResourceExhausted.String())
		return status.Errorf(codes.ResourceExhausted, "%s already has %d agent sessions open, the limit", sourceName(ip), a.maxPerPeer)
	}
	defer a.release(ip)

	s, hello, err := a.open(st, remote, local)
	if err != nil {
		return err
	}
	log := a.log.With("distro", s.Distro(), "session", s.ID, "peer", remote)
	a.logSession(log, "agent session opened", "mode", hello.GetNetworkingMode().String(), "agent_version", hello.GetAgentVersion())
	defer a.reg.Close(s)

	err = a.serve(st, s)
	if errors.Is(err, io.EOF) {
		a.logSession(log, "agent session closed by the agent")
		return nil
	}
	a.logSession(log, "agent session ended", "err", err)
	return err
}

// logSession logs a line of a session opening or ending, at most
// agents.SessionLogMax a minute: a token holder may open sessions as fast
// as the daemon answers them, and each is one line more.
func (a *agentService) logSession(log *slog.Logger, msg string, args ...any) {
	a.sessionLog.Log(log, time.Now(), slog.LevelInfo, msg, args...)
}

// open waits for the hello, opens the session in the registry and
// welcomes the agent.
func (a *agentService) open(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage], remote, local netip.AddrPort) (*agents.Session, *wslfwdv1.AgentHello, error) {
	first, err := a.recvHello(st)
	if err != nil {
		return nil, nil, err
	}
	hello := first.GetHello()
	if hello == nil {
		return nil, nil, status.Error(codes.InvalidArgument, "the first message of a session must be a hello")
	}
	s, err := a.reg.Open(hello, remote, local)
	if err != nil {
		return nil, nil, err // the registry logs refusals, at a bounded rate
	}
	if err := st.Send(&wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Welcome{Welcome: &wslfwdv1.HostWelcome{
		DaemonVersion:      version.Version,
		SessionId:          s.ID,
		MaxListeners:       uint32(a.reg.MaxListeners()),
		HeldListenerInodes: s.Held,
	}}}); err != nil {
		return nil, nil, err
	}
	return s, hello, nil
}

// serve runs an open session: the session's outbox is the stream's one
// sender, and every message received goes to the registry, until either
// fails, the session is replaced, the server stops, or no snapshot comes
// within snapTimeout of the hello.
func (a *agentService) serve(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage], s *agents.Session) error {
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- s.Run(ctx, st.Send) }()
	// A session holds its distro's slot: without a snapshot within
	// snapTimeout it ends, as one without a hello does.
	noSnapshot := time.NewTimer(a.snapTimeout)
	defer noSnapshot.Stop()
	received := make(chan error, 1)
	go func() { received <- a.receive(st, s, noSnapshot) }()

	select {
	case <-noSnapshot.C:
		return status.Errorf(codes.DeadlineExceeded, "no snapshot accepted within %s of the hello", a.snapTimeout)
	case err := <-received:
		return err
	case err := <-sent:
		return err
	case <-s.Replaced():
		return status.Error(codes.Aborted, "a newer session of this distro took over")
	case <-s.Unread():
		return status.Errorf(codes.ResourceExhausted, "the agent does not read its stream: more listener statuses wait than twice its limit of %d listeners", a.reg.MaxListeners())
	case <-a.stopping:
		return status.Error(codes.Unavailable, "the daemon is shutting down")
	}
}
