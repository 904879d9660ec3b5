package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// arrivingOf returns how many calls of rank hold a place.
func (f *fixture) arrivingOf(rank int) int {
	a := f.srv.arriving
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[rank]
}

// A role's calls whose first message has not arrived are bounded: past
// MaxArrivingPerRole the next call of the role is refused at its headers,
// other roles are not affected, and a place comes back when a call's first
// message arrives or the call ends without one.
func TestCallsAwaitingTheirFirstMessageAreBounded(t *testing.T) {
	f := start(t, Options{HelloTimeout: time.Hour})
	health := func(tok string) codes.Code {
		_, err := healthpb.NewHealthClient(f.dial(t, tok)).Check(ctx(t), &healthpb.HealthCheckRequest{})
		return status.Code(err)
	}
	agentCall := func(distro string) codes.Code {
		_, c := session(t, f.dial(t, f.tokens.Agent), natHello(distro))
		return c
	}
	// Agent sessions that send no hello hold their places, each on a
	// connection of its own.
	var cancels []context.CancelFunc
	var streams []wslfwdv1.AgentService_SessionClient
	for range MaxArrivingPerRole {
		c, cancel := context.WithCancel(ctx(t))
		cancels = append(cancels, cancel)
		st, err := wslfwdv1.NewAgentServiceClient(f.dial(t, f.tokens.Agent)).Session(c)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	rank := roleAgent.rank()
	waitfor.Cond(t, 10*time.Second, "the sessions to hold every place", func() bool { return f.arrivingOf(rank) == MaxArrivingPerRole })
	if c := agentCall("Fedora"); c != codes.ResourceExhausted {
		t.Fatalf("an agent call past the places: %s, want ResourceExhausted", c)
	}
	if c := health(f.tokens.Read); c != codes.OK {
		t.Fatalf("a read call while the agent role has no place: %s, want OK", c)
	}
	// A session that sends its hello gives its place back, whatever the
	// hello's fate; one that ends without any gives it back too.
	if err := streams[0].Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: natHello("Ubuntu")}}); err != nil {
		t.Fatal(err)
	}
	cancels[1]()
	waitfor.Cond(t, 10*time.Second, "two places back", func() bool { return f.arrivingOf(rank) == MaxArrivingPerRole-2 })
	if c := agentCall("Debian"); c != codes.OK {
		t.Fatalf("an agent call once places came back: %s, want OK", c)
	}
	if n := f.arrivingOf(rank); n != MaxArrivingPerRole-2 {
		t.Fatalf("%d places held after a call that completed, want %d", n, MaxArrivingPerRole-2)
	}
	for _, cancel := range cancels {
		cancel()
	}
	waitfor.Cond(t, 10*time.Second, "every place back", func() bool { return f.arrivingOf(rank) == 0 })
}
