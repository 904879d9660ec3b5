package server

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// getStatus makes one GetStatus call with tok on a connection of its own
// and returns its code (Unimplemented once past auth: the stand-in's).
func (f *fixture) getStatus(t *testing.T, tok string) codes.Code {
	t.Helper()
	cc := f.dial(t, tok)
	_, err := wslfwdv1.NewControlServiceClient(cc).GetStatus(ctx(t), &wslfwdv1.GetStatusRequest{})
	if status.Code(err) == codes.Unavailable {
		// Refused in the handshake: left open, gRPC would dial again
		// and each handshake be counted again. Others stay open, holding
		// their places.
		cc.Close()
	}
	return status.Code(err)
}

// Every call refused at its headers is counted by its code: no token, a
// wrong one, a role that may not make the call, no room under the
// authenticated caps. Calls let through are not.
func TestRefusedCallsAreCounted(t *testing.T) {
	f := start(t, Options{Limits: LimitOptions{MaxAuthenticatedPerSource: 1}})
	for _, c := range []struct {
		tok  string
		want codes.Code
	}{
		{"", codes.Unauthenticated},
		// Refused in the TLS handshake: the call finds no connection.
		{newToken(t), codes.Unavailable},
		{f.tokens.Agent, codes.PermissionDenied},
		{f.tokens.Admin, codes.Unimplemented}, // holds the admins' one slot
		{f.tokens.Read, codes.Unimplemented},  // the readers' own
	} {
		if got := f.getStatus(t, c.tok); got != c.want {
			t.Fatalf("GetStatus: %s, want %s", got, c.want)
		}
	}
	// An agent connection with a session open holds the agents' one slot,
	// and another agent connection finds no room.
	if _, err := wslfwdv1.NewAgentServiceClient(f.dial(t, f.tokens.Agent)).Session(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitfor.Cond(t, 10*time.Second, "the agent session to hold its connection", func() bool {
		f.srv.lim.mu.Lock()
		defer f.srv.lim.mu.Unlock()
		held := f.srv.lim.authed[roleAgent.rank()].all
		return len(held) == 1 && held[0].sessions.Load() == 1
	})
	if _, c := session(t, f.dial(t, f.tokens.Agent), natHello("Ubuntu")); c != codes.ResourceExhausted {
		t.Fatalf("a second agent session: %s, want ResourceExhausted", c)
	}
	want := []metrics.RefusalCount{{Code: "PermissionDenied", Count: 1}, {Code: "ResourceExhausted", Count: 1}, {Code: "Unauthenticated", Count: 2}}
	if got := f.metrics.Snapshot().CallRefusals; !slices.Equal(got, want) {
		t.Fatalf("call refusals %v, want %v", got, want)
	}
}

// A session refused past MaxStreamsPerPeer counts among the agent
// refusals, beside those of the registry.
func TestSessionsPastThePeerCapAreCounted(t *testing.T) {
	f := start(t, Options{MaxStreamsPerPeer: 1})
	cc := f.dial(t, f.tokens.Agent)
	if _, c := session(t, cc, natHello("Ubuntu")); c != codes.OK {
		t.Fatalf("first session: %s", c)
	}
	if _, c := session(t, cc, natHello("Debian")); c != codes.ResourceExhausted {
		t.Fatalf("second session: %s, want ResourceExhausted", c)
	}
	want := []metrics.RefusalCount{{Code: "ResourceExhausted", Count: 1}}
	if got := f.metrics.Snapshot().AgentRefusals; !slices.Equal(got, want) {
		t.Fatalf("agent refusals %v, want %v", got, want)
	}
}

// Without Metrics the server counts into figures of its own: a refused
// call, an agent session past the peer cap and a closed connection do not
// crash it.
func TestServerWithoutMetrics(t *testing.T) {
	f := &fixture{tokens: Tokens{Admin: newToken(t), Agent: newToken(t)}}
	f.reg = agents.New(agents.Options{Grace: time.Hour, MaxListeners: 4, Targets: agents.TargetRules{AllowLoopback: true}})
	s, err := New(Options{Registry: f.reg, Control: control{}, Tokens: f.tokens, MaxStreamsPerPeer: 1,
		Limits: LimitOptions{MaxPendingPerSource: 1}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, f, s)
	if got := f.getStatus(t, ""); got != codes.Unauthenticated {
		t.Fatalf("tokenless GetStatus: %s, want Unauthenticated", got)
	}
	cc := f.dial(t, f.tokens.Agent)
	session(t, cc, natHello("Ubuntu"))
	if _, c := session(t, cc, natHello("Debian")); c != codes.ResourceExhausted {
		t.Fatalf("second session: %s, want ResourceExhausted", c)
	}
}
