// Package server is the daemon's gRPC front: AgentService (agent sessions,
// fed into the registry), ControlService (implemented by the daemon), the
// standard health service and server reflection, all behind bearer-token
// interceptors with per-role permissions, bounded message sizes and a
// bounded number of agent streams per peer address.
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
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/registry"
)

// Defaults for the zero Options fields.
const (
	DefaultMaxRecvMsgSize    = 4 << 20
	DefaultMaxStreamsPerPeer = 32
	DefaultHelloTimeout      = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	Registry *registry.Registry
	Control  wslfwdv1.ControlServiceServer
	Tokens   Tokens
	// MaxRecvMsgSize bounds one incoming message, in bytes.
	MaxRecvMsgSize int
	// MaxStreamsPerPeer bounds the agent sessions open from one IP
	// address. All distros of a WSL2 VM share one address, so this is
	// well above the number of distros anyone runs.
	MaxStreamsPerPeer int
	// HelloTimeout bounds the wait for an agent session's hello.
	HelloTimeout time.Duration
	Logger       *slog.Logger
}

// Server is the daemon's gRPC server.
type Server struct {
	grpc     *grpc.Server
	health   *health.Server
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
		o.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = DefaultHelloTimeout
	}
	if o.MaxStreamsPerPeer <= 0 {
		o.MaxStreamsPerPeer = DefaultMaxStreamsPerPeer
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	a := newAuth(o.Tokens, log)
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(o.MaxRecvMsgSize),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, whose PING round trips on every burst of received
		// data wake both ends; agent and CLI messages are small.
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(1<<20),
		grpc.ChainUnaryInterceptor(a.unary),
		grpc.ChainStreamInterceptor(a.stream),
		// Find dead agents within seconds, and let agents ping as often
		// as they detect theirs.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	stopping := make(chan struct{})
	wslfwdv1.RegisterAgentServiceServer(g, &agentService{
		stopping:     stopping,
		helloTimeout: o.HelloTimeout,
		reg:          o.Registry,
		log:          log,
		maxPerPeer:   o.MaxStreamsPerPeer,
		perPeer:      make(map[netip.Addr]int),
	})
	wslfwdv1.RegisterControlServiceServer(g, o.Control)
	h := health.NewServer()
	healthpb.RegisterHealthServer(g, h)
	for _, svc := range []string{"", wslfwdv1.AgentService_ServiceDesc.ServiceName, wslfwdv1.ControlService_ServiceDesc.ServiceName} {
		h.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(g)
	return &Server{grpc: g, health: h, stopping: stopping}, nil
}

// Serve accepts connections on l until Stop.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

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
