package daemon

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestExposeValidation(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend()})
	expose := func(r *wslfwdv1.ExposeRequest) codes.Code {
		_, err := h.control.Expose(testCtx(t), r)
		return status.Code(err)
	}
	if c := expose(&wslfwdv1.ExposeRequest{Port: 3000}); c != codes.FailedPrecondition {
		t.Errorf("no agent: %s, want FailedPrecondition", c)
	}
	a := h.connect(t, "Ubuntu")
	a.snapshot()
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
	b := h.connect(t, "Debian")
	b.snapshot()
	if c := expose(&wslfwdv1.ExposeRequest{Port: 3000}); c != codes.InvalidArgument {
		t.Errorf("two agents, no distro: %s, want InvalidArgument", c)
	}
	if fw := h.forwards(t, true); len(fw) != 0 {
		t.Fatalf("rejected exposes left forwards: %v", fw)
	}
}

func TestExposePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	be := newFakeBackend()
	h := startHarness(t, harnessOptions{backend: be, stateDir: dir})
	a := h.connect(t, "Ubuntu")
	a.snapshot()
	r, err := h.control.Expose(testCtx(t), &wslfwdv1.ExposeRequest{Port: 3000, HostPort: 13000})
	if err != nil {
		t.Fatal(err)
	}
	f := r.GetForward()
	if f.GetState() != active || f.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC || f.GetDistro() != "Ubuntu" ||
		f.GetListenAddress() != "0.0.0.0" || f.GetListenPort() != 13000 || f.GetConnectAddress() != distroAddr || f.GetConnectPort() != 3000 {
		t.Fatalf("exposed forward = %v", f)
	}
	if _, err := h.control.Expose(testCtx(t), &wslfwdv1.ExposeRequest{Port: 3001, HostPort: 13000}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second static on one host port: %v, want AlreadyExists", err)
	}
	a.close()
	h.stop()

	// A new daemon on the same state directory still has it.
	h = startHarness(t, harnessOptions{backend: newFakeBackend(), stateDir: dir})
	a = h.connect(t, "Ubuntu")
	a.snapshot()
	fw := h.forwards(t, false)
	if len(fw) != 1 || fw[0].GetListenPort() != 13000 || fw[0].GetState() != active || fw[0].GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC {
		t.Fatalf("forwards after restart = %v, want the static forward", fw)
	}
	u, err := h.control.Unexpose(testCtx(t), &wslfwdv1.UnexposeRequest{HostPort: 13000})
	if err != nil {
		t.Fatal(err)
	}
	if u.GetForward().GetListenPort() != 13000 || u.GetForward().GetConnectPort() != 3000 {
		t.Fatalf("unexposed forward = %v", u.GetForward())
	}
	if fw := h.forwards(t, true); len(fw) != 0 {
		t.Fatalf("forwards after unexpose = %v", fw)
	}
	if _, err := h.control.Unexpose(testCtx(t), &wslfwdv1.UnexposeRequest{HostPort: 13000}); status.Code(err) != codes.NotFound {
		t.Fatalf("second unexpose: %v, want NotFound", err)
	}
	a.close()
	h.stop()

	h = startHarness(t, harnessOptions{backend: newFakeBackend(), stateDir: dir})
	a = h.connect(t, "Ubuntu")
	a.snapshot()
	if fw := h.forwards(t, true); len(fw) != 0 {
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
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), expose: netip.MustParseAddr("127.0.0.1"), dial: dial})

	if _, err := h.control.Probe(testCtx(t), &wslfwdv1.ProbeRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("probe without agents: %v, want FailedPrecondition", err)
	}

	a := h.connect(t, "Ubuntu")
	a.snapshot()
	stopped := make(chan string, 1)
	a.mu.Lock()
	a.onEcho = func(e *wslfwdv1.EchoStart) {
		if e.GetPort() != 0 {
			a.sendNoFail(echoReady(e, 0, "the test expects port 0 (agent's choice)"))
			return
		}
		// The agent "opens" its echo listener on port and reports it.
		a.seq++
		a.sendNoFail(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
			Seq: a.seq, Added: []*wslfwdv1.Listener{tcpListener("0.0.0.0", port)},
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
		a.sendNoFail(m)
	}
	a.mu.Unlock()
	go func() {
		for m := range a.in {
			if s := m.GetEchoStop(); s != nil {
				stopped <- s.GetProbeId()
				return
			}
		}
	}()

	resp, err := h.control.Probe(testCtx(t), &wslfwdv1.ProbeRequest{Timeout: durationpb.New(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
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
	if to["wsl-to-host"] != h.addr || to["host-to-wsl"] != distroAddr+":"+p || to["lan-to-wsl"] != "127.0.0.1:"+p {
		t.Fatalf("paths dialled %v", to)
	}
	mu.Lock()
	if len(dialled) != 2 || dialled[0] != distroAddr+":"+p || dialled[1] != "127.0.0.1:"+p {
		t.Fatalf("daemon dialled %v", dialled)
	}
	mu.Unlock()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("no EchoStop after the probe")
	}
}

func TestLANAddr(t *testing.T) {
	host := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("169.254.3.4"),
		netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("172.28.240.1"),
		netip.MustParseAddr("10.2.3.1"),
	}
	wsl := []netip.Prefix{netip.MustParsePrefix("172.28.240.0/20")}
	if got, ok := lanAddr(host, wsl); !ok || got != netip.MustParseAddr("10.2.3.1") {
		t.Fatalf("lanAddr = %v %v, want 10.2.3.1", got, ok)
	}
	if _, ok := lanAddr(host[:4], wsl); ok {
		t.Fatal("found a LAN address among loopback, link-local and WSL addresses")
	}
}

func echoReady(e *wslfwdv1.EchoStart, port uint32, errText string) *wslfwdv1.AgentMessage {
	return &wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{
		ProbeId: e.GetProbeId(), Listen: "0.0.0.0", Port: port, Error: errText,
	}}}
}

func TestProbeEchoFailure(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend()})
	a := h.connect(t, "Ubuntu")
	a.snapshot()
	a.mu.Lock()
	a.onEcho = func(e *wslfwdv1.EchoStart) { a.sendNoFail(echoReady(e, 0, "address in use")) }
	a.mu.Unlock()
	_, err := h.control.Probe(testCtx(t), &wslfwdv1.ProbeRequest{Port: 5555})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("probe = %v, want FailedPrecondition carrying the agent's error", err)
	}
}
