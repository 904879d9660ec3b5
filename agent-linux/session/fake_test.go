package session_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/wslfwd/wslfwd/agent-linux/session"
	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeDaemon is an in-process AgentService: it checks the token, welcomes
// each hello and hands every accepted stream to the test.
type fakeDaemon struct {
	wslfwdv1.UnimplementedAgentServiceServer
	token    string
	streams  chan *fakeStream
	reject   atomic.Bool  // refuse streams with Unavailable ("daemon restarting")
	attempts atomic.Int32 // streams opened, accepted or not
	unproven atomic.Int32 // handshakes asking for a token it does not hold
	addr     string
	max      atomic.Uint32            // the welcome's max_listeners
	silent   atomic.Bool              // never welcome a hello
	held     atomic.Pointer[[]uint64] // the welcome's held_listener_inodes, if set
}

type fakeStream struct {
	auth string
	in   chan *wslfwdv1.AgentMessage
	out  chan *wslfwdv1.HostMessage
	end  chan error
}

// startDaemon starts a fake daemon that accepts sessions with tok and
// proves in the TLS handshake that it holds tok and the tokens of also.
func startDaemon(t *testing.T, tok string, also ...string) *fakeDaemon {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{token: tok, streams: make(chan *fakeStream, 16), addr: lis.Addr().String()}
	d.max.Store(100)
	creds, err := tokentls.Server(func(net.Conn) { d.unproven.Add(1) }, append(also, tok)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	wslfwdv1.RegisterAgentServiceServer(srv, d)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return d
}

func (d *fakeDaemon) Session(st grpc.BidiStreamingServer[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]) error {
	d.attempts.Add(1)
	md, _ := metadata.FromIncomingContext(st.Context())
	auth := strings.Join(md.Get(token.MetadataKey), ",")
	if got, ok := token.FromHeader(auth); !ok || !token.Equal(got, d.token) {
		return status.Error(codes.Unauthenticated, "invalid token")
	}
	if d.reject.Load() {
		return status.Error(codes.Unavailable, "daemon restarting")
	}
	fs := &fakeStream{auth: auth, in: make(chan *wslfwdv1.AgentMessage, 64),
		out: make(chan *wslfwdv1.HostMessage, 16), end: make(chan error, 1)}
	d.streams <- fs
	go func() {
		defer close(fs.in)
		for first := true; ; first = false {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if first && m.GetHello() != nil && !d.silent.Load() {
				w := &wslfwdv1.HostWelcome{SessionId: "s1", MaxListeners: d.max.Load()}
				if held := d.held.Load(); held != nil {
					w.HeldListenerInodes = *held
				}
				fs.out <- &wslfwdv1.HostMessage{Msg: &wslfwdv1.HostMessage_Welcome{Welcome: w}}
			}
			fs.in <- m
		}
	}()
	for {
		select {
		case m := <-fs.out:
			if err := st.Send(m); err != nil {
				return err
			}
		case err := <-fs.end:
			return err
		case <-st.Context().Done():
			return nil
		}
	}
}

func (d *fakeDaemon) nextStream(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case fs := <-d.streams:
		return fs
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not open a stream")
		return nil
	}
}

func (fs *fakeStream) next(t *testing.T) *wslfwdv1.AgentMessage {
	t.Helper()
	select {
	case m, ok := <-fs.in:
		if !ok {
			t.Fatal("stream ended while a message was expected")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the agent")
		return nil
	}
}

// fakeSource is a tracker.Source whose truth the test sets.
type fakeSource struct {
	mu        sync.Mutex
	net       *wslfwdv1.NetworkState
	listeners []*wslfwdv1.Listener
}

func (f *fakeSource) Network() (*wslfwdv1.NetworkState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.net, nil
}

func (f *fakeSource) Listeners() ([]*wslfwdv1.Listener, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listeners, nil
}

func (f *fakeSource) set(net *wslfwdv1.NetworkState, ls ...*wslfwdv1.Listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.net, f.listeners = net, ls
}

func tcp(port uint32, inode uint64) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: "0.0.0.0", Port: port, Inode: inode, Pid: 100, ProcessName: "srv"}
}

func netWith(addr string) *wslfwdv1.NetworkState {
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{{Name: "eth0", Index: 2,
		Addresses: []*wslfwdv1.InterfaceAddress{{Address: addr, PrefixLength: 20}}}}}
}

var testHello = &wslfwdv1.AgentHello{Distro: "Ubuntu", AgentVersion: "0.1.0-test", BootId: "b-1",
	NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, KernelRelease: "6.6.0", InstanceId: "i-1", ProtocolRevision: 2}

type harness struct {
	sess *session.Session // once run
	src  *fakeSource
	tr   *tracker.Tracker
	logs *syncbuf.Buffer
	cfg  session.Config
}

func newHarness(t *testing.T, addr, tok string) *harness {
	t.Helper()
	tokFile := filepath.Join(t.TempDir(), "token")
	if tok != "" {
		if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{src: &fakeSource{}, logs: &syncbuf.Buffer{}}
	h.src.set(netWith("172.28.240.53"), tcp(8080, 1))
	h.tr = tracker.New(tracker.Config{Source: h.src})
	if err := h.tr.Refresh(); err != nil {
		t.Fatal(err)
	}
	h.cfg = session.Config{Addr: addr, Why: "test: the fake daemon", TokenFile: tokFile, Hello: testHello, State: h.tr,
		Logger:     slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	return h
}

func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h.sess = session.New(h.cfg)
	go func() { done <- h.sess.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// change sets the truth and lets the tracker publish it.
func (h *harness) change(t *testing.T, net *wslfwdv1.NetworkState, ls ...*wslfwdv1.Listener) {
	t.Helper()
	h.src.set(net, ls...)
	if err := h.tr.Refresh(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, 10*time.Second, what, cond)
}

// twoListeners starts a daemon and an agent whose stream has carried the
// hello, a snapshot with port 8080 (seq 1) and changes adding 9090 (seq 2).
func twoListeners(t *testing.T) (*fakeDaemon, *harness, *fakeStream) {
	t.Helper()
	d := startDaemon(t, testToken)
	h := newHarness(t, d.addr, testToken)
	h.run(t)
	fs := d.nextStream(t)
	fs.next(t) // hello
	expectSnapshot(t, fs.next(t), 1, 8080)
	h.change(t, netWith("172.28.240.53"), tcp(8080, 1), tcp(9090, 2))
	expectChanges(t, fs.next(t), 2, []uint32{9090}, nil)
	return d, h, fs
}
