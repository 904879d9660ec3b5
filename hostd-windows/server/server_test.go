package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/agents"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/metrics"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// control stands in for the daemon: every call that passes auth answers
// Unimplemented, which tells it apart from Unauthenticated and
// PermissionDenied.
type control struct {
	wslfwdv1.UnimplementedControlServiceServer
}

type fixture struct {
	srv     *Server
	addr    string
	tokens  Tokens
	reg     *agents.Registry
	metrics *metrics.Metrics
}

func newToken(t *testing.T) string {
	t.Helper()
	tok, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// start serves a registry whose agents may forward to loopback, where the
// tests' agents connect from.
func start(t *testing.T, o Options) *fixture {
	t.Helper()
	return startWith(t, o, agents.TargetRules{AllowLoopback: true})
}

func startWith(t *testing.T, o Options, targets agents.TargetRules) *fixture {
	t.Helper()
	f := &fixture{tokens: Tokens{Admin: newToken(t), Read: newToken(t), Agent: newToken(t)}}
	f.reg = agents.New(agents.Options{Grace: time.Hour, MaxListeners: 4, Targets: targets})
	f.metrics = metrics.New()
	if o.Control == nil {
		o.Control = control{}
	}
	o.Registry, o.Tokens, o.Metrics = f.reg, f.tokens, f.metrics
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, f, s)
	return f
}

// serve serves s on a loopback port as f's server until the test ends.
func serve(t *testing.T, f *fixture, s *Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr, f.srv = l.Addr().String(), s
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Stop(ctx)
		<-done
	})
}

// dial connects as this release's agents and CLI do: TLS in which the
// daemon proves it holds tok, which then goes with every call. With no
// tok it connects as a client without a token does, in plain HTTP/2.
func (f *fixture) dial(t *testing.T, tok string) *grpc.ClientConn {
	t.Helper()
	if tok == "" {
		return f.dialPlain(t, "")
	}
	return f.connect(t, grpc.WithTransportCredentials(tokentls.ClientOf(tok)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}))
}

// dialPlain connects as the previous release's agents and CLI do: plain
// HTTP/2, tok (unless empty) with every call.
func (f *fixture) dialPlain(t *testing.T, tok string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(plainToken(tok)))
	}
	return f.connect(t, opts...)
}

// plainToken sends a token without transport security, as the previous
// release's clients did.
type plainToken string

func (p plainToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{token.MetadataKey: token.Header(string(p))}, nil
}

func (plainToken) RequireTransportSecurity() bool { return false }

func (f *fixture) connect(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(f.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// session opens an agent stream and returns the code its first receive
// ends with (OK when the daemon welcomed the hello).
func session(t *testing.T, cc *grpc.ClientConn, h *wslfwdv1.AgentHello) (grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage], codes.Code) {
	t.Helper()
	st, _, c := welcomed(t, cc, h)
	return st, c
}

// welcomed is session, with the welcome (nil unless OK).
func welcomed(t *testing.T, cc *grpc.ClientConn, h *wslfwdv1.AgentHello) (grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage], *wslfwdv1.HostWelcome, codes.Code) {
	t.Helper()
	st, err := wslfwdv1.NewAgentServiceClient(cc).Session(ctx(t))
	if err != nil {
		return nil, nil, status.Code(err)
	}
	if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: h}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil {
		return st, nil, status.Code(err)
	}
	if m.GetWelcome() == nil {
		t.Fatalf("first message %v, want a welcome", m)
	}
	return st, m.GetWelcome(), codes.OK
}

func natHello(distro string) *wslfwdv1.AgentHello {
	return &wslfwdv1.AgentHello{Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, ProtocolRevision: 1}
}

func TestAuthMatrix(t *testing.T) {
	f := start(t, Options{})
	calls := map[string]func(cc *grpc.ClientConn) codes.Code{
		"GetStatus": func(cc *grpc.ClientConn) codes.Code {
			_, err := wslfwdv1.NewControlServiceClient(cc).GetStatus(ctx(t), &wslfwdv1.GetStatusRequest{})
			return status.Code(err)
		},
		"Watch": func(cc *grpc.ClientConn) codes.Code {
			st, err := wslfwdv1.NewControlServiceClient(cc).Watch(ctx(t), &wslfwdv1.WatchRequest{})
			if err != nil {
				return status.Code(err)
			}
			_, err = st.Recv()
			return status.Code(err)
		},
		"Expose": func(cc *grpc.ClientConn) codes.Code {
			_, err := wslfwdv1.NewControlServiceClient(cc).Expose(ctx(t), &wslfwdv1.ExposeRequest{Port: 80})
			return status.Code(err)
		},
		"Probe": func(cc *grpc.ClientConn) codes.Code {
			_, err := wslfwdv1.NewControlServiceClient(cc).Probe(ctx(t), &wslfwdv1.ProbeRequest{})
			return status.Code(err)
		},
		"Session": func(cc *grpc.ClientConn) codes.Code {
			_, c := session(t, cc, natHello("Ubuntu"))
			return c
		},
		"Health": func(cc *grpc.ClientConn) codes.Code {
			r, err := healthpb.NewHealthClient(cc).Check(ctx(t), &healthpb.HealthCheckRequest{})
			if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health = %v", r.GetStatus())
			}
			return status.Code(err)
		},
		"Reflection": func(cc *grpc.ClientConn) codes.Code {
			st, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx(t))
			if err != nil {
				return status.Code(err)
			}
			st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			_, err = st.Recv()
			return status.Code(err)
		},
	}
	const (
		ok     = codes.Unimplemented // passed auth, reached the stand-in
		unauth = codes.Unauthenticated
		denied = codes.PermissionDenied
	)
	want := map[string]map[string]codes.Code{
		"none":  {"GetStatus": unauth, "Watch": unauth, "Expose": unauth, "Probe": unauth, "Session": unauth, "Health": unauth, "Reflection": unauth},
		"wrong": {"GetStatus": unauth, "Watch": unauth, "Expose": unauth, "Probe": unauth, "Session": unauth, "Health": unauth, "Reflection": unauth},
		"read":  {"GetStatus": ok, "Watch": ok, "Expose": denied, "Probe": denied, "Session": denied, "Health": codes.OK, "Reflection": codes.OK},
		"agent": {"GetStatus": denied, "Watch": denied, "Expose": denied, "Probe": denied, "Session": codes.OK, "Health": denied, "Reflection": denied},
		"admin": {"GetStatus": ok, "Watch": ok, "Expose": ok, "Probe": ok, "Session": codes.OK, "Health": codes.OK, "Reflection": codes.OK},
	}
	toks := map[string]string{"none": "", "wrong": newToken(t), "read": f.tokens.Read, "agent": f.tokens.Agent, "admin": f.tokens.Admin}
	for _, tr := range []struct {
		name string
		dial func(*testing.T, string) *grpc.ClientConn
	}{{"tls", f.dial}, {"plaintext", f.dialPlain}} {
		for who, calls2 := range want {
			cc := tr.dial(t, toks[who])
			for call, code := range calls2 {
				if tr.name == "tls" && who == "wrong" {
					// The daemon cannot prove a token it does not
					// hold, and the client sends it nothing.
					code = codes.Unavailable
				}
				if got := calls[call](cc); got != code {
					t.Errorf("%s, %s token, %s: got %s, want %s", tr.name, who, call, got, code)
				}
			}
		}
	}
}

func TestTokenCompare(t *testing.T) {
	a := newAuth(Tokens{Admin: strings.Repeat("a", 64)}, slog.New(slog.DiscardHandler), metrics.New())
	if a.roleOf(strings.Repeat("a", 63)) != roleNone {
		t.Fatal("a prefix of the token was accepted")
	}
	if a.roleOf(strings.Repeat("a", 64)) != roleAdmin {
		t.Fatal("the admin token was not recognised")
	}
}

func TestHelloValidationClosesStream(t *testing.T) {
	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Agent)
	for name, h := range map[string]*wslfwdv1.AgentHello{
		"no distro": {NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT},
		"no mode":   {Distro: "Ubuntu"},
		"too long":  {Distro: strings.Repeat("x", 65), NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT},
	} {
		if _, c := session(t, cc, h); c != codes.InvalidArgument {
			t.Errorf("%s: got %s, want InvalidArgument", name, c)
		}
	}
	// A first message that is not a hello.
	st, err := wslfwdv1.NewAgentServiceClient(cc).Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 1}}})
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("snapshot first: got %v, want InvalidArgument", err)
	}
	if len(f.reg.Agents()) != 0 {
		t.Fatal("rejected hellos registered agents")
	}
}

func snapshotMsg(addr string, listeners ...*wslfwdv1.Listener) *wslfwdv1.AgentMessage {
	return &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{
		Seq: 1,
		Network: &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{
			Name: "eth0", Flags: []string{"up"},
			Addresses: []*wslfwdv1.InterfaceAddress{{Address: addr, PrefixLength: 8}},
		}}},
		Listeners: listeners,
	}}}
}

func TestNATPeerCheckOverTCP(t *testing.T) {
	// With the daemon's rules, a NAT agent connecting from loopback is
	// refused at its hello: loopback is never a forward target.
	strict := startWith(t, Options{}, agents.TargetRules{})
	_, c := session(t, strict.dial(t, strict.tokens.Agent), natHello("Ubuntu"))
	if c != codes.PermissionDenied {
		t.Fatalf("hello from 127.0.0.1: %v, want PermissionDenied", c)
	}
	if len(strict.reg.Agents()) != 0 || len(strict.reg.Refusals()) != 1 {
		t.Fatalf("agents %v, refusals %v: want none and one", strict.reg.Agents(), strict.reg.Refusals())
	}

	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Agent)
	// Where loopback may be a target, what the agent claims does not matter.
	st, c := session(t, cc, natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatal(c)
	}
	// 127.0.0.1 as the agent's own address: accepted.
	if err := st.Send(snapshotMsg("172.28.240.53", &wslfwdv1.Listener{
		Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Listen: "0.0.0.0", Port: 80,
	})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.reg.Agents()) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("agent not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a := f.reg.Agents()[0]; !a.GetConnected() || a.GetListenerCount() != 1 || !strings.HasPrefix(a.GetPeerAddress(), "127.0.0.1:") {
		t.Fatalf("agent = %v", a)
	}
}

func TestListenerLimitOverTCP(t *testing.T) {
	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Agent)
	st, c := session(t, cc, natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatal(c)
	}
	var ls []*wslfwdv1.Listener
	for p := uint32(1); p <= 5; p++ { // the registry allows 4
		ls = append(ls, &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4, Listen: "0.0.0.0", Port: p})
	}
	st.Send(snapshotMsg("127.0.0.1", ls...))
	_, err := st.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("got %v, want InvalidArgument naming the limit", err)
	}
	if len(f.reg.Agents()) != 0 {
		t.Fatal("over-limit snapshot registered the agent")
	}
}

// A restarted agent's welcome names the sockets the daemon holds for its
// distro, so that, over the limit, it keeps reporting those first.
func TestWelcomeNamesHeldSockets(t *testing.T) {
	f := start(t, Options{})
	cc := f.dial(t, f.tokens.Agent)
	h := natHello("Ubuntu")
	h.BootId = "boot-1"
	st, w, c := welcomed(t, cc, h)
	if c != codes.OK {
		t.Fatal(c)
	}
	if got := w.GetMaxListeners(); got != 4 {
		t.Errorf("welcome: max listeners %d, want the registry's 4", got)
	}
	if held := w.GetHeldListenerInodes(); len(held) != 0 {
		t.Errorf("first welcome: held %v, want none", held)
	}
	var ls []*wslfwdv1.Listener
	for _, p := range []uint32{12, 11} {
		ls = append(ls, &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
			Listen: "0.0.0.0", Port: p, Inode: uint64(p)})
	}
	if err := st.Send(snapshotMsg("127.0.0.1", ls...)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if as := f.reg.Agents(); len(as) == 1 && as[0].GetListenerCount() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the snapshot was not applied")
		}
		time.Sleep(5 * time.Millisecond) // polling the registry, which applies the snapshot on its own goroutine
	}
	_, w, c = welcomed(t, f.dial(t, f.tokens.Agent), h) // the agent restarted
	if c != codes.OK {
		t.Fatal(c)
	}
	if held, want := w.GetHeldListenerInodes(), []uint64{11, 12}; !slices.Equal(held, want) {
		t.Errorf("welcome after a restart: held %v, want %v", held, want)
	}
}

func TestStreamsPerPeerAndMessageSize(t *testing.T) {
	f := start(t, Options{MaxStreamsPerPeer: 1, MaxRecvMsgSize: 2048})
	cc := f.dial(t, f.tokens.Agent)
	st, c := session(t, cc, natHello("Ubuntu"))
	if c != codes.OK {
		t.Fatal(c)
	}
	if _, c := session(t, cc, natHello("Debian")); c != codes.ResourceExhausted {
		t.Fatalf("second stream from one peer: %s, want ResourceExhausted", c)
	}
	big := &wslfwdv1.AgentHello{Distro: "x", KernelRelease: strings.Repeat("k", 4096)}
	st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: big}})
	if _, err := st.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v, want ResourceExhausted", err)
	}
}

func TestSilentSessionTimesOut(t *testing.T) {
	f := start(t, Options{HelloTimeout: 50 * time.Millisecond, MaxStreamsPerPeer: 1})
	cc := f.dial(t, f.tokens.Agent)
	st, err := wslfwdv1.NewAgentServiceClient(cc).Session(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("silent session: %v, want DeadlineExceeded", err)
	}
	// Its slot is free again.
	if _, c := session(t, cc, natHello("Ubuntu")); c != codes.OK {
		t.Fatalf("session after a timed-out one: %s", c)
	}
}

// countHandler counts log records.
type countHandler struct {
	slog.Handler
	n *int
}

func (h countHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h countHandler) Handle(context.Context, slog.Record) error { *h.n++; return nil }

func TestRejectionLogIsRateLimited(t *testing.T) {
	n := 0
	a := newAuth(Tokens{Admin: newToken(t)}, slog.New(countHandler{slog.DiscardHandler, &n}), metrics.New())
	c := context.Background()
	for range 5 {
		if _, err := a.authorize(c, wslfwdv1.ControlService_GetStatus_FullMethodName); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("check: %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("%d log lines for 5 rejections from one peer, want 1", n)
	}
}

// watching stands in for a daemon whose Watch streams stay open: it sends
// the headers, then waits for the call to end.
type watching struct{ control }

func (watching) Watch(_ *wslfwdv1.WatchRequest, st grpc.ServerStreamingServer[wslfwdv1.WatchResponse]) error {
	if err := st.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
}

// The read token, which every local user can read, cannot take every
// Watch stream: past its own bound it is refused, and the admin still
// watches.
func TestReadTokenLeavesWatchesToTheAdmin(t *testing.T) {
	f := start(t, Options{Control: watching{}})
	watch := func(cc *grpc.ClientConn) codes.Code {
		st, err := wslfwdv1.NewControlServiceClient(cc).Watch(ctx(t), &wslfwdv1.WatchRequest{})
		if err != nil {
			return status.Code(err)
		}
		md, err := st.Header()
		if md == nil && err == nil { // ended without headers: the status says why
			_, err = st.Recv()
		}
		return status.Code(err)
	}
	read := MaxWatchesPerRole[roleRead]
	var conns []*grpc.ClientConn
	for i := range read {
		if i%16 == 0 { // calls per connection
			conns = append(conns, f.dial(t, f.tokens.Read))
		}
		if c := watch(conns[len(conns)-1]); c != codes.OK {
			t.Fatalf("read watch %d: %v", i+1, c)
		}
	}
	if c := watch(f.dial(t, f.tokens.Read)); c != codes.ResourceExhausted {
		t.Errorf("read watch %d: %v, want ResourceExhausted", read+1, c)
	}
	admin := f.dial(t, f.tokens.Admin)
	for i := range MaxWatchesPerRole[roleAdmin] {
		if c := watch(admin); c != codes.OK {
			t.Fatalf("admin watch %d with the read token's all taken: %v", i+1, c)
		}
	}
	if c := watch(admin); c != codes.ResourceExhausted {
		t.Errorf("admin watch past its bound: %v, want ResourceExhausted", c)
	}
}

// Together the roles' Watch bounds are the engine's.
func TestWatchBoundsAddUp(t *testing.T) {
	sum := 0
	for _, n := range MaxWatchesPerRole {
		sum += n
	}
	if sum != engine.MaxWatchers {
		t.Errorf("the roles may open %d Watch streams, the engine %d", sum, engine.MaxWatchers)
	}
}

// stuck stands in for a daemon whose answers do not get through: each
// GetStatus says it began, then stays in progress until its call ends, as
// one does whose client does not read the answer.
type stuck struct {
	control
	began chan struct{}
}

func (s stuck) GetStatus(ctx context.Context, _ *wslfwdv1.GetStatusRequest) (*wslfwdv1.GetStatusResponse, error) {
	s.began <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

// The calls in progress with the read token are bounded, so that clients
// that never read their answers cannot make the daemon hold them without
// end; the admin's have a bound of their own.
func TestCallsInProgressPerRole(t *testing.T) {
	began := make(chan struct{}, 2*MaxCallsPerRole)
	f := start(t, Options{Control: stuck{began: began}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call := func(cc *grpc.ClientConn) chan codes.Code {
		code := make(chan codes.Code, 1)
		go func() {
			// A call past the bound ends at once; one let through would
			// stay stuck, so it too ends, after a while.
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := wslfwdv1.NewControlServiceClient(cc).GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
			code <- status.Code(err)
		}()
		return code
	}
	await := func(what string) {
		t.Helper()
		select {
		case <-began:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not begin", what)
		}
	}
	read := f.dial(t, f.tokens.Read)
	for i := range MaxCallsPerRole {
		call(read)
		await(fmt.Sprintf("read call %d", i+1))
	}
	if c := <-call(f.dial(t, f.tokens.Read)); c != codes.ResourceExhausted {
		t.Errorf("read call past the bound: %v, want ResourceExhausted", c)
	}
	call(f.dial(t, f.tokens.Admin))
	await("the admin's call, with the read token's places all taken,")
}

// atomicCount counts the records logged, from any goroutine.
type atomicCount struct {
	slog.Handler
	n *atomic.Int64
}

func (h atomicCount) Enabled(context.Context, slog.Level) bool  { return true }
func (h atomicCount) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }

// A refused hello is logged by the registry, at its bounded rate, and not
// again by the server for each one: a token holder looping on bad hellos
// would otherwise turn the log over in under a minute.
func TestRefusedHellosAreNotLoggedEachTime(t *testing.T) {
	var n atomic.Int64
	f := start(t, Options{Logger: slog.New(atomicCount{slog.DiscardHandler, &n})})
	cc := f.dial(t, f.tokens.Agent)
	for range 50 {
		if _, c := session(t, cc, &wslfwdv1.AgentHello{}); c != codes.InvalidArgument {
			t.Fatalf("an empty hello: %s, want InvalidArgument", c)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("the server logged %d records for 50 refused hellos, want none of its own", got)
	}
}

// A token holder looping sessions as fast as the daemon answers them gets
// no more than agents.SessionLogMax lines a minute from the server: each
// session's opened and closed lines had gone to the log at Info, every
// time, and would have turned the rotated log over in minutes.
func TestSessionLinesAreBounded(t *testing.T) {
	var n atomic.Int64
	f := start(t, Options{Logger: slog.New(lineCount{&n})})
	cc := f.dial(t, f.tokens.Agent)
	for i := range 1000 {
		st, c := session(t, cc, natHello(fmt.Sprintf("d%d", i%4)))
		if c != codes.OK {
			t.Fatalf("session %d: %s", i, c)
		}
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("session %d ended with %v, want EOF", i, err)
		}
	}
	// Within the minute the test takes, or just past it: one window more.
	if got := n.Load(); got > 2*agents.SessionLogMax {
		t.Fatalf("the server logged %d lines for 1,000 sessions, want at most %d", got, 2*agents.SessionLogMax)
	}
}

// lineCount counts every record, also those of loggers derived with With
// (atomicCount's With hands back its inner handler, which does not count).
type lineCount struct{ n *atomic.Int64 }

func (h lineCount) Enabled(context.Context, slog.Level) bool  { return true }
func (h lineCount) Handle(context.Context, slog.Record) error { h.n.Add(1); return nil }
func (h lineCount) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h lineCount) WithGroup(string) slog.Handler             { return h }
