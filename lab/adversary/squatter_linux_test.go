//go:build linux

package adversary

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
)

const squatTimeout = time.Minute

// squatter is a gRPC server a local user starts on the daemon's address
// while the daemon is down, recording every authorization header that
// reaches it.
type squatter struct {
	mu   sync.Mutex
	seen []string
}

func (s *squatter) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.seen = append(s.seen, md.Get(token.MetadataKey)...)
	s.mu.Unlock()
}

// serve serves AgentService and ControlService (each unimplemented) with
// creds on l until stopped or the test ends.
func (s *squatter) serve(t *testing.T, l net.Listener, creds credentials.TransportCredentials) *grpc.Server {
	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			s.record(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			s.record(ss.Context())
			return h(srv, ss)
		}))
	wslfwdv1.RegisterAgentServiceServer(srv, wslfwdv1.UnimplementedAgentServiceServer{})
	wslfwdv1.RegisterControlServiceServer(srv, wslfwdv1.UnimplementedControlServiceServer{})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return srv
}

// A user who takes the daemon's ports while it is down (an upgrade, a
// restart, before the service starts at boot) gets no token: not the
// agent's, which reconnects to it, nor the admin's from the CLI. One
// squatter speaks plain HTTP/2, as the previous release's daemon did and
// as a client that sends its token in clear would need; the other TLS
// with a token of its own, as any user who reads the read token has: to
// an admin's or an agent's client one other token is as good as another.
// Neither can prove it holds the agent's or the admin's token, so neither
// gets a call; and once the daemon is back the agent connects again.
func TestPortSquatterGetsNoToken(t *testing.T) {
	ctx, env := labtest.Start(t, labrun.Options{}, squatTimeout)
	agent, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "Ubuntu"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	own, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	tlsCreds, err := tokentls.Server(nil, own)
	if err != nil {
		t.Fatal(err)
	}
	squatters := map[string]*squatter{}
	var servers []*grpc.Server
	for addr, creds := range map[string]credentials.TransportCredentials{
		labrun.DaemonWSL.String():      nil, // plain HTTP/2
		labrun.DaemonLoopback.String(): tlsCreds,
	} {
		l, err := env.Lab.WinHost.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		s := &squatter{}
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		servers = append(servers, s.serve(t, l, creds))
		squatters[addr] = s
	}

	// The agent, reconnecting to the squatter on the WSL address, says
	// why it sends nothing.
	err = env.Wait(ctx, "the agent to refuse the squatter", func(context.Context) (bool, error) {
		return strings.Contains(agent.Log(), "did not prove it holds the token from "+env.AgentTokenFile+", so the token was not sent"), nil
	})
	if err != nil {
		t.Fatalf("%v; the agent's log:\n%s", err, agent.Tail(20))
	}
	// The CLI, with the admin token, against the squatter on loopback.
	for _, args := range [][]string{{"status"}, {"expose", "8080"}} {
		out, err := env.CLI(ctx, args...)
		if err == nil || !strings.Contains(err.Error(), "so the token was not sent") {
			t.Errorf("wslfwd %s against the squatter: %v\n%s", args[0], err, out)
		}
	}
	for addr, s := range squatters {
		s.mu.Lock()
		if len(s.seen) > 0 {
			t.Errorf("the squatter on %s got calls with %q", addr, s.seen)
		}
		s.mu.Unlock()
	}

	for _, srv := range servers {
		srv.Stop()
	}
	if err := env.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	err = env.Wait(ctx, "the agent to connect to the daemon again", func(ctx context.Context) (bool, error) {
		a, err := env.Agent(ctx, "Ubuntu")
		return a.GetConnected(), err
	})
	if err != nil {
		t.Fatalf("%v; the agent's log:\n%s", err, agent.Tail(20))
	}
}
