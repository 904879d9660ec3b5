// Package server is the daemon's gRPC front: AgentService (agent sessions,
// fed into the registry), ControlService (implemented by the daemon), the
// standard health service and server reflection, all behind bearer-token
// checks with per-role permissions, and under limits on connections,
// streams, header and message sizes and waits (limits.go, listener.go).
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
)

// Defaults for the zero Options fields.
const (
	DefaultMaxStreamsPerPeer = 32
	DefaultHelloTimeout      = 10 * time.Second
	// DefaultSnapshotTimeout: an agent sends its snapshot right after
	// the welcome; a session without one must not hold the distro's slot.
	DefaultSnapshotTimeout = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	Registry *agents.Registry
	Control  wslfwdv1.ControlServiceServer
	Tokens   Tokens
	// MaxRecvMsgSize bounds one incoming message, in bytes. Zero: what
	// an agent at the registry's listener limit needs
	// (agents.MaxMessageSize), about 1.2 MiB at 4,096; no control call
	// comes near it.
	MaxRecvMsgSize int
	// MaxStreamsPerPeer bounds the agent sessions open from one source
	// (source: all of loopback, or the whole WSL network). All distros of
	// a WSL2 VM share one, so this is well above the number of distros
	// anyone runs.
	MaxStreamsPerPeer int
	// HelloTimeout bounds the wait for an agent session's hello.
	HelloTimeout time.Duration
	// SnapshotTimeout bounds the wait, after the hello, for an agent
	// session's first snapshot to be accepted.
	SnapshotTimeout time.Duration
	// Limits bound the connections; zero fields take the defaults.
	Limits LimitOptions
	// Metrics count the calls refused at their headers, the connections
	// closed past the caps or at the pending timeout, and the agent
	// sessions refused past MaxStreamsPerPeer. Nil: New makes figures of
	// the server's own, which no one reads. That keeps every counting
	// site free of nil checks, as engine.Options.Metrics does.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Server is the daemon's gRPC server.
type Server struct {
	grpc     *grpc.Server
	health   *health.Server
	lim      *limiter      // shared by every listener Serve is given
	arriving *arriving     // calls whose first message is arriving
	stopping chan struct{} // closed by Stop: agent sessions end
	once     sync.Once
}

// New builds the server. Tokens.Admin must be set.
func New(o Options) (*Server, error) {
	if o.Tokens.Admin == "" {
		return nil, fmt.Errorf("server: an admin token is required")
	}
	if o.Registry == nil || o.Control == nil {
		return nil, fmt.Errorf("server: registry and control service are required")
	}
	if o.MaxRecvMsgSize <= 0 {
		o.MaxRecvMsgSize = agents.MaxMessageSize(o.Registry.MaxListeners())
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = DefaultHelloTimeout
	}
	if o.SnapshotTimeout <= 0 {
		o.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if o.MaxStreamsPerPeer <= 0 {
		o.MaxStreamsPerPeer = DefaultMaxStreamsPerPeer
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	a := newAuth(o.Tokens, log, o.Metrics)
	tr, err := newTransport(o.Tokens, a.unknownIdentity)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	c := newCodec(2 * o.Registry.MaxListeners())
	g := grpc.NewServer(append(limitOptions(o.MaxRecvMsgSize),
		grpc.Creds(tr),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, whose PING round trips on every burst of received
		// data wake both ends; agent and CLI messages are small.
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(1<<20),
		grpc.InTapHandle(a.tap),
		grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(c.unary, a.arriving.unary),
		grpc.ChainStreamInterceptor(c.stream, a.arriving.stream),
	)...)
	stopping := make(chan struct{})
	wslfwdv1.RegisterAgentServiceServer(g, &agentService{
		stopping:     stopping,
		helloTimeout: o.HelloTimeout,
		snapTimeout:  o.SnapshotTimeout,
		reg:          o.Registry,
		log:          log,
		maxPerPeer:   o.MaxStreamsPerPeer,
		perPeer:      make(map[netip.Addr]int),
		metrics:      o.Metrics,
		sessionLog:   logfile.NewBudget(agents.SessionLogEvery, agents.SessionLogMax),
	})
	wslfwdv1.RegisterControlServiceServer(g, o.Control)
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	for _, svc := range []string{"", wslfwdv1.AgentService_ServiceDesc.ServiceName, wslfwdv1.ControlService_ServiceDesc.ServiceName} {
		h.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(g)
	return &Server{grpc: g, health: h, lim: newLimiter(o.Limits, log, o.Metrics), arriving: a.arriving, stopping: stopping}, nil
}

// Serve accepts connections on l until Stop, under the connection limits,
// which every listener shares.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(s.lim.listener(l)) }

// Stop reports NOT_SERVING, then lets calls in flight finish until ctx
// ends, after which it closes every connection. Long-lived streams
// end: agent sessions at once (agents reconnect to the next daemon),
// watches when the daemon's engine stops, so stop that first.
func (s *Server) Stop(ctx context.Context) {
	s.health.Shutdown()
	s.once.Do(func() { close(s.stopping) })
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}
