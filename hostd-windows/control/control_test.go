package control_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
)

func TestExposeValidation(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend()})
	expose := func(r *wslfwdv1.ExposeRequest) codes.Code {
		_, err := h.Control.Expose(daemontest.Ctx(t), r)
		return status.Code(err)
	}
	if c := expose(&wslfwdv1.ExposeRequest{Port: 3000}); c != codes.FailedPrecondition {
		t.Errorf("no agent: %s, want FailedPrecondition", c)
	}
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	for name, tc := range map[string]struct {
		req  *wslfwdv1.ExposeRequest
		want codes.Code
	}{
		"port 0":         {&wslfwdv1.ExposeRequest{Port: 0}, codes.InvalidArgument},
		"port too big":   {&wslfwdv1.ExposeRequest{Port: 70000}, codes.InvalidArgument},
		"host port big":  {&wslfwdv1.ExposeRequest{Port: 80, HostPort: 65536}, codes.InvalidArgument},
		"protocol":       {&wslfwdv1.ExposeRequest{Port: 80, Protocol: 9}, codes.InvalidArgument},
		"listen address": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "not-an-ip"}, codes.InvalidArgument},
		"unknown distro": {&wslfwdv1.ExposeRequest{Port: 80, Distro: "Nope"}, codes.NotFound},
	} {
		if c := expose(tc.req); c != tc.want {
			t.Errorf("%s: %s, want %s", name, c, tc.want)
		}
	}
	b := h.Connect(t, "Debian")
	b.Snapshot()
	if c := expose(&wslfwdv1.ExposeRequest{Port: 3000}); c != codes.InvalidArgument {
		t.Errorf("two agents, no distro: %s, want InvalidArgument", c)
	}
	if fw := h.Forwards(t, true); len(fw) != 0 {
		t.Fatalf("rejected exposes left forwards: %v", fw)
	}
}

func TestExposePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	be := daemontest.NewBackend()
	h := daemontest.Start(t, daemontest.Options{Backend: be, StateDir: dir})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	r, err := h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: 3000, HostPort: 13000})
	if err != nil {
		t.Fatal(err)
	}
	f := r.GetForward()
	if f.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE || f.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC || f.GetDistro() != "Ubuntu" ||
		f.GetListenAddress() != "0.0.0.0" || f.GetListenPort() != 13000 || f.GetConnectAddress() != daemontest.DistroAddr || f.GetConnectPort() != 3000 {
		t.Fatalf("exposed forward = %v", f)
	}
	if _, err := h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: 3001, HostPort: 13000}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second static on one host port: %v, want AlreadyExists", err)
	}
	a.Close()
	h.Stop()

	// A new daemon on the same state directory still has it.
	h = daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), StateDir: dir})
	a = h.Connect(t, "Ubuntu")
	a.Snapshot()
	fw := h.Forwards(t, false)
	if len(fw) != 1 || fw[0].GetListenPort() != 13000 || fw[0].GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE || fw[0].GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC {
		t.Fatalf("forwards after restart = %v, want the static forward", fw)
	}
	u, err := h.Control.Unexpose(daemontest.Ctx(t), &wslfwdv1.UnexposeRequest{HostPort: 13000})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetForward().GetListenPort() != 13000 || u.GetForward().GetConnectPort() != 3000 {
		t.Fatalf("unexposed forward = %v", u.GetForward())
	}
	if fw := h.Forwards(t, true); len(fw) != 0 {
		t.Fatalf("forwards after unexpose = %v", fw)
	}
	if _, err := h.Control.Unexpose(daemontest.Ctx(t), &wslfwdv1.UnexposeRequest{HostPort: 13000}); status.Code(err) != codes.NotFound {
		t.Fatalf("second unexpose: %v, want NotFound", err)
	}
	a.Close()
	h.Stop()

	h = daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), StateDir: dir})
	a = h.Connect(t, "Ubuntu")
	a.Snapshot()
	if fw := h.Forwards(t, true); len(fw) != 0 {
		t.Fatalf("unexposed forward came back after restart: %v", fw)
	}
}

func echoServe(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); io.Copy(c, c) }()
	}
}

// TestProbe runs a probe against a fake agent. The distro's address is a
// documentation address, so the daemon's dialer is routed to a loopback
// echo server standing in for the distro, and records what was dialled.
func TestProbe(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go echoServe(echo)
	port := uint32(echo.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	var dialled []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, echo.Addr().String())
	}
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Expose: netip.MustParseAddr("127.0.0.1"), Dial: dial})

	if _, err := h.Control.Probe(daemontest.Ctx(t), &wslfwdv1.ProbeRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("probe without agents: %v, want FailedPrecondition", err)
	}

	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	stopped := make(chan string, 1)
	asked := make(chan uint32, 1)
	a.OnEcho(func(e *wslfwdv1.EchoStart) {
		// No port in the request: the daemon picks one of the dynamic
		// range, never the agent. The agent "opens" its echo listener
		// there (the test's dial reaches the one echo server whatever the
		// port) and reports it.
		port := e.GetPort()
		asked <- port
		if port < 49152 {
			a.SendNoFail(echoReady(e, 0, "the test expects a port of the dynamic range"))
			return
		}
		a.SendNoFail(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
			Seq: a.NextSeq(), Added: []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", port)},
		}}})
		m := echoReady(e, port, "")
		start := time.Now()
		c, err := net.Dial("tcp", e.GetHostTarget())
		w2h := &wslfwdv1.PathResult{To: e.GetHostTarget(), Ok: err == nil}
		if err == nil {
			c.Close()
			w2h.Latency = durationpb.New(time.Since(start))
		} else {
			w2h.Error = err.Error()
		}
		m.GetEchoReady().WslToHost = w2h
		a.SendNoFail(m)
	})
	go func() {
		for m := range a.Messages() {
			if s := m.GetEchoStop(); s != nil {
				stopped <- s.GetProbeId()
				return
			}
		}
	}()

	resp, err := h.Control.Probe(daemontest.Ctx(t), &wslfwdv1.ProbeRequest{Timeout: durationpb.New(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	port = <-asked
	if !resp.GetOk() || resp.GetDistro() != "Ubuntu" || resp.GetPort() != port || len(resp.GetPaths()) != 3 {
		t.Fatalf("probe = %v", resp)
	}
	to := map[string]string{}
	for _, p := range resp.GetPaths() {
		if !p.GetOk() || p.GetLatency() == nil {
			t.Errorf("path %s failed: %v", p.GetName(), p)
		}
		to[p.GetName()] = p.GetTo()
	}
	p := strconv.Itoa(int(port))
	if to["wsl-to-host"] != h.Addr || to["host-to-wsl"] != daemontest.DistroAddr+":"+p || to["lan-to-wsl"] != "127.0.0.1:"+p {
		t.Fatalf("paths dialled %v", to)
	}
	mu.Lock()
	if len(dialled) != 2 || dialled[0] != daemontest.DistroAddr+":"+p || dialled[1] != "127.0.0.1:"+p {
		t.Fatalf("daemon dialled %v", dialled)
	}
	mu.Unlock()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("no EchoStop after the probe")
	}
}

func echoReady(e *wslfwdv1.EchoStart, port uint32, errText string) *wslfwdv1.AgentMessage {
	return &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{
		ProbeId: e.GetProbeId(), Listen: "0.0.0.0", Port: port, Error: errText,
	}}}
}

func TestProbeEchoFailure(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend()})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	a.OnEcho(func(e *wslfwdv1.EchoStart) { a.SendNoFail(echoReady(e, 0, "address in use")) })
	_, err := h.Control.Probe(daemontest.Ctx(t), &wslfwdv1.ProbeRequest{Port: 5555})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("probe = %v, want FailedPrecondition carrying the agent's error", err)
	}
}

// Expose refuses a host side no forward can have, with InvalidArgument
// and the reason, and saves nothing; the unspecified and the host's own
// addresses are accepted.
func TestExposeRefusesImpossibleHostSide(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend()})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	ownPort := uint32(netip.MustParseAddrPort(h.Addr).Port())
	for name, tc := range map[string]struct {
		req  *wslfwdv1.ExposeRequest
		want string
	}{
		"foreign address": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "192.0.2.99"},
			"listen_address 192.0.2.99: the host has no such address (it has "},
		"broadcast": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "255.255.255.255"},
			"listen_address 255.255.255.255: a broadcast address is not one a forward can listen on"},
		"multicast": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "ff02::1"},
			"listen_address ff02::1: a multicast address"},
		"own port": {&wslfwdv1.ExposeRequest{Port: ownPort},
			"is the daemon's own port"},
		"own port as host port": {&wslfwdv1.ExposeRequest{Port: 80, HostPort: ownPort},
			"is the daemon's own port"},
		"deny list": {&wslfwdv1.ExposeRequest{Port: 80, HostPort: 445},
			"host port 445 is in the daemon's deny list (deny_ports)"},
	} {
		_, err := h.Control.Expose(daemontest.Ctx(t), tc.req)
		if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument with %q", name, err, tc.want)
		}
	}
	if fw := h.Forwards(t, true); len(fw) != 0 {
		t.Fatalf("refused exposes left forwards: %v", fw)
	}
	for i, addr := range []string{"0.0.0.0", "::", "127.0.0.1"} {
		if _, err := h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: uint32(3000 + i), ListenAddress: addr}); err != nil {
			t.Errorf("listen address %s refused: %v", addr, err)
		}
	}
}

func TestWatchStreamsAreCapped(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Grace: time.Hour})
	// One connection per watch: a connection carries a bounded number
	// of streams.
	watch := func() (wslfwdv1.ControlService_WatchClient, error) {
		c := wslfwdv1.NewControlServiceClient(h.Dial(t, h.Tokens.Admin))
		return c.Watch(daemontest.Ctx(t), &wslfwdv1.WatchRequest{})
	}
	for i := range engine.MaxWatchers {
		st, err := watch()
		if err == nil {
			_, err = st.Header() // the subscription is in place
		}
		if err != nil {
			t.Fatalf("watch %d: %v", i+1, err)
		}
	}
	st, err := watch()
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("watch past the cap: %v, want ResourceExhausted", err)
	}
}

// The metrics endpoint's port is the daemon's own too: never forwarded.
func TestExposeRefusesTheMetricsPort(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), MetricsEndpoint: true})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	u, err := url.Parse(h.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Control.Expose(daemontest.Ctx(t), &wslfwdv1.ExposeRequest{Port: 80, HostPort: uint32(port)})
	if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), "is the daemon's own port") {
		t.Errorf("expose on the metrics port %d: %v, want InvalidArgument, the daemon's own port", port, err)
	}
}

// An agent that opens its echo listener on another port than the one the
// probe asked for is not believed: the daemon sends nothing there (in
// mirrored mode that could be anyone's port on the host's loopback).
func TestProbeRefusesAnotherEchoPort(t *testing.T) {
	var dialled atomic.Int32
	dial := func(context.Context, string, string) (net.Conn, error) {
		dialled.Add(1)
		return nil, errors.New("the test dials nothing")
	}
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Dial: dial})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	a.OnEcho(func(e *wslfwdv1.EchoStart) { a.SendNoFail(echoReady(e, 6666, "")) })
	_, err := h.Control.Probe(daemontest.Ctx(t), &wslfwdv1.ProbeRequest{Port: 5555})
	if err == nil || !strings.Contains(err.Error(), "on port 6666, not 5555 as asked") {
		t.Fatalf("probe = %v, want refused: another port than asked", err)
	}
	if n := dialled.Load(); n != 0 {
		t.Errorf("the daemon dialled %d times", n)
	}
}

// A port the daemon picked that the agent cannot open is replaced by
// another, a few times.
func TestProbeTriesAnotherPort(t *testing.T) {
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend()})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot()
	var asked []uint32
	var mu sync.Mutex
	a.OnEcho(func(e *wslfwdv1.EchoStart) {
		mu.Lock()
		asked = append(asked, e.GetPort())
		mu.Unlock()
		a.SendNoFail(echoReady(e, 0, "address already in use"))
	})
	_, err := h.Control.Probe(daemontest.Ctx(t), &wslfwdv1.ProbeRequest{})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("probe = %v, want FailedPrecondition", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 3 || slices.Contains(asked, 0) {
		t.Errorf("ports asked for: %v, want 3 the daemon picked", asked)
	}
}
