package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
	"github.com/wslfwd/wslfwd/hostd-windows/registry"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/hostd-windows/statics"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// fakeBackend keeps entries in memory and records removals and additions,
// so tests can tell a forward that stayed up from one that was taken down
// and re-made.
type fakeBackend struct {
	mu      sync.Mutex
	entries map[backend.Key]backend.Entry
	removed []backend.Entry
	added   []backend.Entry
	failAdd error // when set, every addition fails with it
	durable bool  // see Durable
	// broken, when set, is why no entry carries connections (Verify),
	// as with portproxy while iphlpsvc is stopped.
	broken error
}

// Verify finds every entry broken while broken is set.
func (b *fakeBackend) Verify(_ context.Context, es []backend.Entry) map[backend.Entry]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[backend.Entry]error)
	for _, e := range es {
		if b.broken != nil {
			out[e] = b.broken
		}
	}
	return out
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{entries: make(map[backend.Key]backend.Entry)}
}

func (b *fakeBackend) Name() string                   { return "fake" }
func (b *fakeBackend) Supports(backend.Protocol) bool { return true }
func (b *fakeBackend) Close() error                   { return nil }

// Durable is false unless set: like the relay's, a fakeBackend's entries
// end with it (a restarted harness gets a new, empty one). A durable one
// stands in for portproxy: a restarted harness is given the same one, with
// its entries, and its ledger is on disk.
func (b *fakeBackend) Durable() bool { return b.durable }

func (b *fakeBackend) List(context.Context) ([]backend.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []backend.Entry
	for _, e := range b.entries {
		out = append(out, e)
	}
	return out, nil
}

func (b *fakeBackend) Apply(_ context.Context, batch backend.Batch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var fails []backend.Failure
	for _, e := range batch.Remove {
		if cur, ok := b.entries[e.Key()]; ok && cur == e {
			delete(b.entries, e.Key())
			b.removed = append(b.removed, e)
		}
	}
	for _, e := range batch.Add {
		if b.failAdd != nil {
			fails = append(fails, backend.Failure{Entry: e, Err: b.failAdd})
			continue
		}
		if cur, ok := b.entries[e.Key()]; ok && cur != e {
			fails = append(fails, backend.Failure{Entry: e, Err: backend.ErrPortInUse})
			continue
		}
		if _, ok := b.entries[e.Key()]; !ok {
			b.added = append(b.added, e)
		}
		b.entries[e.Key()] = e
	}
	if fails != nil {
		return &backend.ApplyError{Failures: fails}
	}
	return nil
}

// changes returns every removal and addition so far.
func (b *fakeBackend) changes() (removed, added []backend.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.removed), slices.Clone(b.added)
}

func (b *fakeBackend) snapshot() (map[backend.Key]backend.Entry, []backend.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[backend.Key]backend.Entry, len(b.entries))
	for k, v := range b.entries {
		m[k] = v
	}
	return m, append([]backend.Entry(nil), b.removed...)
}

// harness is a daemon with its gRPC server on 127.0.0.1.
type harness struct {
	d       *Daemon
	addr    string
	tokens  server.Tokens
	control wslfwdv1.ControlServiceClient
	stop    func()
}

type harnessOptions struct {
	backend  backend.Backend
	stateDir string
	grace    time.Duration
	config   *config.Config
	expose   netip.Addr
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	firewall FirewallSyncer
	audit    FirewallAuditor
}

func startHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.stateDir == "" {
		o.stateDir = t.TempDir()
	}
	if o.config == nil {
		o.config = config.Default()
	}
	if o.grace == 0 {
		o.grace = time.Hour
	}
	if !o.expose.IsValid() {
		o.expose = netip.MustParseAddr("0.0.0.0")
	}
	log := slog.New(slog.DiscardHandler)
	led, err := ledger.For(o.stateDir, o.backend)
	if err != nil {
		t.Fatal(err)
	}
	st, err := statics.Open(o.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{
		Config:       o.config,
		Backend:      o.backend,
		Reconciler:   reconcile.New(o.backend, led, log),
		Statics:      st,
		ExposeAddr:   o.expose,
		ListenAddrs:  []netip.AddrPort{l.Addr().(*net.TCPAddr).AddrPort()},
		StateDir:     o.stateDir,
		Grace:        o.grace,
		MaxListeners: o.config.MaxListenersPerAgent,
		MaxAgents:    o.config.MaxAgents,
		// Agent, service and daemon share this machine's loopback.
		Targets:       registry.TargetRules{AllowLoopback: true},
		Dial:          o.dial,
		Firewall:      o.firewall,
		FirewallAudit: o.audit,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{d: d, addr: l.Addr().String()}
	for _, p := range []*string{&h.tokens.Admin, &h.tokens.Agent} {
		if *p, err = token.Generate(); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := server.New(server.Options{Registry: d.Registry(), Control: d, Tokens: h.tokens, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.Run(ctx) }()
	go func() { defer wg.Done(); srv.Serve(l) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			srv.Stop(sctx)
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(h.stop)
	h.control = wslfwdv1.NewControlServiceClient(h.dial(t, h.tokens.Admin))
	return h
}

func (h *harness) dial(t *testing.T, tok string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(h.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(token.Credentials{Token: tok}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeAgent speaks AgentService like the real agent: hello, snapshot,
// changes, in NAT mode, connecting from 127.0.0.1.
type fakeAgent struct {
	t      *testing.T
	distro string
	st     grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]
	cancel context.CancelFunc
	seq    uint64
	in     chan *wslfwdv1.HostMessage
	done   chan struct{}
	err    error // why the stream ended; valid after done

	mu       sync.Mutex
	statuses map[string]*wslfwdv1.ListenerStatus // by listen:port
	acked    uint64
	onEcho   func(*wslfwdv1.EchoStart)
}

func (h *harness) connect(t *testing.T, distro string) *fakeAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	st, err := wslfwdv1.NewAgentServiceClient(h.dial(t, h.tokens.Agent)).Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{t: t, distro: distro, st: st, cancel: cancel, in: make(chan *wslfwdv1.HostMessage, 1024),
		done: make(chan struct{}), statuses: make(map[string]*wslfwdv1.ListenerStatus)}
	t.Cleanup(cancel)
	if err := st.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: &wslfwdv1.AgentHello{
		Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, AgentVersion: "test", ProtocolRevision: 1,
	}}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetWelcome() == nil {
		t.Fatalf("welcome: %v %v", m, err)
	}
	go a.recv()
	t.Cleanup(a.close)
	return a
}

func (a *fakeAgent) recv() {
	defer close(a.done)
	for {
		m, err := a.st.Recv()
		if err != nil {
			a.err = err
			return
		}
		a.mu.Lock()
		for _, s := range m.GetForwardStatus().GetStatuses() {
			a.statuses[net.JoinHostPort(s.GetListen(), itoa(s.GetPort()))] = s
		}
		if m.GetForwardStatus() != nil {
			a.acked = max(a.acked, m.GetForwardStatus().GetSeq())
		}
		onEcho := a.onEcho
		a.mu.Unlock()
		if e := m.GetEchoStart(); e != nil && onEcho != nil {
			go onEcho(e)
		}
		select {
		case a.in <- m:
		default:
		}
	}
}

func (a *fakeAgent) close() {
	a.cancel()
	<-a.done
}

func itoa(p uint32) string { return strconv.FormatUint(uint64(p), 10) }

func tcpListener(listen string, port uint32) *wslfwdv1.Listener {
	fam := wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	if netip.MustParseAddr(listen).Is6() {
		fam = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6
	}
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: fam, Listen: listen, Port: port, Inode: uint64(port), Pid: 42, ProcessName: "svc"}
}

// distroAddr is the fake agent's forward target: the address its connection
// comes from (the registry ignores what the agent reports).
const distroAddr = "127.0.0.1"

func agentNetwork() *wslfwdv1.NetworkState {
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{
		{Name: "lo", Flags: []string{"up", "loopback"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "127.0.0.1", PrefixLength: 8}}},
		{Name: "eth0", Flags: []string{"up"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "172.28.240.53", PrefixLength: 20}}},
	}}
}

func (a *fakeAgent) send(m *wslfwdv1.AgentMessage) {
	a.t.Helper()
	if err := a.st.Send(m); err != nil {
		a.t.Fatalf("send: %v", err)
	}
}

// sendNoFail sends from a goroutine other than the test's.
func (a *fakeAgent) sendNoFail(m *wslfwdv1.AgentMessage) {
	if err := a.st.Send(m); err != nil {
		a.t.Errorf("send: %v", err)
	}
}

// snapshot sends a snapshot and waits until the daemon acted on it.
func (a *fakeAgent) snapshot(ls ...*wslfwdv1.Listener) {
	a.t.Helper()
	a.seq++
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: a.seq, Network: agentNetwork(), Listeners: ls, WantReply: true}}})
	a.waitAck(a.seq)
}

// changes sends changes and waits until the daemon acted on them.
func (a *fakeAgent) changes(added, removed []*wslfwdv1.Listener) {
	a.t.Helper()
	a.seq++
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{Seq: a.seq, Added: added, Removed: removed, WantReply: true}}})
	a.waitAck(a.seq)
}

// waitAck waits for the reply to seq, which the daemon sends once it acted
// on it.
func (a *fakeAgent) waitAck(seq uint64) {
	a.t.Helper()
	waitFor(a.t, "reply to seq", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.acked >= seq
	})
}

func (a *fakeAgent) status(listen string, port uint32) *wslfwdv1.ListenerStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statuses[net.JoinHostPort(listen, itoa(port))]
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, 10*time.Second, what, cond)
}

func (h *harness) forwards(t *testing.T, all bool) []*wslfwdv1.Forward {
	t.Helper()
	r, err := h.control.ListForwards(testCtx(t), &wslfwdv1.ListForwardsRequest{All: all})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetForwards()
}

// watch subscribes and returns once the subscription is in place.
func (h *harness) watch(t *testing.T, initial bool) <-chan *wslfwdv1.WatchResponse {
	t.Helper()
	st, err := h.control.Watch(testCtx(t), &wslfwdv1.WatchRequest{Initial: initial})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *wslfwdv1.WatchResponse, 1024)
	go func() {
		defer close(ch)
		for {
			e, err := st.Recv()
			if err != nil {
				return
			}
			ch <- e
		}
	}()
	return ch
}

var errTimeout = errors.New("timed out")

func next(ch <-chan *wslfwdv1.WatchResponse) (*wslfwdv1.WatchResponse, error) {
	select {
	case e, ok := <-ch:
		if !ok {
			return nil, errors.New("watch ended")
		}
		return e, nil
	case <-time.After(10 * time.Second):
		return nil, errTimeout
	}
}
