package daemontest

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// DistroAddr is an Agent's forward target: the address its connection
// comes from (the daemon ignores what an agent reports).
const DistroAddr = "127.0.0.1"

// Agent speaks AgentService like the real agent: hello, snapshot,
// changes, in NAT mode, connecting from 127.0.0.1.
type Agent struct {
	t      testing.TB
	st     grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]
	cancel context.CancelFunc
	in     chan *wslfwdv1.HostMessage
	done   chan struct{}
	err    error // why the stream ended; valid after done

	mu       sync.Mutex
	seq      uint64
	statuses map[string]*wslfwdv1.ListenerStatus // by listen:port
	replied  uint64                              // highest seq the daemon replied to
	onEcho   func(*wslfwdv1.EchoStart)
}

// Connect opens an agent session for distro and waits for the welcome.
func (h *Daemon) Connect(t testing.TB, distro string) *Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(Ctx(t))
	st, err := wslfwdv1.NewAgentServiceClient(h.Dial(t, h.Tokens.Agent)).Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{t: t, st: st, cancel: cancel, in: make(chan *wslfwdv1.HostMessage, 1024),
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
	t.Cleanup(a.Close)
	return a
}

func (a *Agent) recv() {
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
			a.replied = max(a.replied, m.GetForwardStatus().GetSeq())
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

// Close ends the session and waits until it has ended.
func (a *Agent) Close() {
	a.cancel()
	<-a.done
}

// SnapshotAndLeave sends a snapshot that asks no reply, then ends its
// side of the stream and waits until the daemon has ended the session:
// the daemon has applied the snapshot and let the agent go, without the
// engine's help (a test may hold it).
func (a *Agent) SnapshotAndLeave(ls ...*wslfwdv1.Listener) {
	a.t.Helper()
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: a.NextSeq(), Network: Network(), Listeners: ls}}})
	if err := a.st.CloseSend(); err != nil {
		a.t.Fatalf("close send: %v", err)
	}
	<-a.done
}

// Done is closed when the session has ended; Err then says why.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Err is why the session ended; valid once Done is closed.
func (a *Agent) Err() error { return a.err }

// Messages are the messages the daemon sent (the latest 1024 unread).
func (a *Agent) Messages() <-chan *wslfwdv1.HostMessage { return a.in }

// OnEcho makes the agent call f, on a goroutine of its own, for each echo
// start the daemon sends.
func (a *Agent) OnEcho(f func(*wslfwdv1.EchoStart)) {
	a.mu.Lock()
	a.onEcho = f
	a.mu.Unlock()
}

// NextSeq is the sequence number of the agent's next snapshot or changes.
func (a *Agent) NextSeq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	return a.seq
}

func itoa(p uint32) string { return strconv.FormatUint(uint64(p), 10) }

// TCPListener is a listener of process "svc" (pid 42) on listen:port.
func TCPListener(listen string, port uint32) *wslfwdv1.Listener {
	fam := wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4
	if netip.MustParseAddr(listen).Is6() {
		fam = wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV6
	}
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: fam, Listen: listen, Port: port, Inode: uint64(port), Pid: 42, ProcessName: "svc"}
}

// Network is the network state the Agent reports: loopback and eth0.
func Network() *wslfwdv1.NetworkState {
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{
		{Name: "lo", Flags: []string{"up", "loopback"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "127.0.0.1", PrefixLength: 8}}},
		{Name: "eth0", Flags: []string{"up"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "172.28.240.53", PrefixLength: 20}}},
	}}
}

// Send sends m, failing the test if it cannot; call it from the test's
// goroutine.
func (a *Agent) Send(m *wslfwdv1.AgentMessage) {
	a.t.Helper()
	if err := a.st.Send(m); err != nil {
		a.t.Fatalf("send: %v", err)
	}
}

// SendNoFail sends m from a goroutine other than the test's.
func (a *Agent) SendNoFail(m *wslfwdv1.AgentMessage) {
	if err := a.st.Send(m); err != nil {
		a.t.Errorf("send: %v", err)
	}
}

// Snapshot sends a snapshot that asks for a reply, and waits for it: the
// daemon acted on it.
func (a *Agent) Snapshot(ls ...*wslfwdv1.Listener) {
	a.t.Helper()
	seq := a.NextSeq()
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: seq, Network: Network(), Listeners: ls, WantReply: true}}})
	a.waitReply(seq)
}

// Changes sends changes that ask for a reply, and waits for it: the
// daemon acted on them.
func (a *Agent) Changes(added, removed []*wslfwdv1.Listener) {
	a.t.Helper()
	seq := a.NextSeq()
	a.Send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{Seq: seq, Added: added, Removed: removed, WantReply: true}}})
	a.waitReply(seq)
}

// waitReply waits for the reply to seq, which the daemon sends once it
// acted on it.
func (a *Agent) waitReply(seq uint64) {
	a.t.Helper()
	waitfor.Cond(a.t, 10*time.Second, "reply to seq", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.replied >= seq
	})
}

// Status is what the daemon last told the agent about its listener on
// listen:port, or nil.
func (a *Agent) Status(listen string, port uint32) *wslfwdv1.ListenerStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statuses[net.JoinHostPort(listen, itoa(port))]
}
