package main

// Tests against the real daemon (hostd-windows/daemon, started by
// daemontest with the relay backend), run in-process on loopback. A
// small stand-in agent speaks AgentService and answers probes with a real
// echo listener. Its distro address is a documentation address (192.0.2.53)
// no test ever sends traffic to: forwards are checked as the daemon reports
// them; traffic through them is the lab's job (it has namespaces).

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/server"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

// exposeAddr is where the relay listens: a loopback address other than
// 127.0.0.1, which stands in for the distro's address, so a forward and
// its target can share a port number.
const exposeAddr = "127.0.0.3"

// distroAddr is the address the stand-in distro reports on eth0; nothing
// is sent there. Its forwards go to targetAddr, where its connection comes
// from: the daemon takes no target from what an agent reports.
const (
	distroAddr = "192.0.2.53"
	targetAddr = "127.0.0.1"
)

// realDaemon is a running daemon with one token file per role.
type realDaemon struct {
	addr                  string
	admin, read, agentTok string // token files
	agentToken            string
}

func (r realDaemon) args(tokenFile string, rest ...string) []string {
	return append([]string{"--host", r.addr, "--token-file", tokenFile}, rest...)
}

func startRealDaemon(t *testing.T) realDaemon {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	var tokens server.Tokens
	rd := realDaemon{}
	for _, x := range []struct {
		dst  *string
		file *string
		name string
	}{{&tokens.Admin, &rd.admin, "admin.token"}, {&tokens.Read, &rd.read, "read.token"}, {&tokens.Agent, &rd.agentTok, "agent.token"}} {
		*x.file = filepath.Join(dir, x.name)
		tok, _, err := token.LoadOrCreate(*x.file)
		if err != nil {
			t.Fatal(err)
		}
		*x.dst = tok
	}
	rd.agentToken = tokens.Agent

	be := relay.New(relay.Options{Logger: log})
	t.Cleanup(func() { be.Close() })
	d := daemontest.Start(t, daemontest.Options{Backend: be, StateDir: dir, Expose: netip.MustParseAddr(exposeAddr), Tokens: tokens, Logger: log})
	rd.addr = d.Addr
	return rd
}

// standInAgent is a minimal agent in NAT mode. Its connection comes from
// 127.0.0.1, its forwards' target.
type standInAgent struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[wslfwdv1.AgentMessage, wslfwdv1.HostMessage]
	mu     sync.Mutex
	seq    uint64
	// failWSLToHost makes the agent report the wsl-to-host path broken.
	failWSLToHost bool
	echoes        map[string]net.Listener
	echoStarts    []*wslfwdv1.EchoStart
}

func agentNetwork() *wslfwdv1.NetworkState {
	return &wslfwdv1.NetworkState{Interfaces: []*wslfwdv1.Interface{
		{Name: "lo", Flags: []string{"up", "loopback"}, Addresses: []*wslfwdv1.InterfaceAddress{{Address: "127.0.0.1", PrefixLength: 8}}},
		{Name: "eth0", Flags: []string{"up"}, Addresses: []*wslfwdv1.InterfaceAddress{
			{Address: distroAddr, PrefixLength: 24},
		}},
	}}
}

func connectAgent(t *testing.T, rd realDaemon, distro string, listeners ...*wslfwdv1.Listener) *standInAgent {
	t.Helper()
	cc, err := grpc.NewClient(rd.addr, grpc.WithTransportCredentials(tokentls.ClientOf(rd.agentToken)),
		grpc.WithPerRPCCredentials(tokentls.Bearer{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := wslfwdv1.NewAgentServiceClient(cc).Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := &standInAgent{t: t, stream: st, echoes: map[string]net.Listener{}}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
		cc.Close()
		a.mu.Lock()
		for _, l := range a.echoes {
			l.Close()
		}
		a.mu.Unlock()
	})
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Hello{Hello: &wslfwdv1.AgentHello{
		Distro: distro, NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT, AgentVersion: "test", ProtocolRevision: 1,
	}}})
	if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("welcome: %v, %v", m, err)
	}
	a.seq = 1
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Snapshot{Snapshot: &wslfwdv1.Snapshot{Seq: 1, Network: agentNetwork(), Listeners: listeners}}})
	go func() {
		defer close(done)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if e := m.GetEchoStart(); e != nil {
				a.echo(e)
			}
			if e := m.GetEchoStop(); e != nil {
				a.mu.Lock()
				if l := a.echoes[e.GetProbeId()]; l != nil {
					l.Close()
				}
				a.mu.Unlock()
			}
		}
	}()
	return a
}

func (a *standInAgent) send(m *wslfwdv1.AgentMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.GetChanges() != nil {
		a.seq++
		m.GetChanges().Seq = a.seq
	}
	if err := a.stream.Send(m); err != nil {
		a.t.Errorf("agent send: %v", err)
	}
}

// echo opens an echo listener on the port asked for (any, for 0), tests
// the path to the host as the real agent does, and answers. It reports
// the listener as bound to loopback, so the daemon does not forward it
// and dials nothing beyond loopback.
func (a *standInAgent) echo(e *wslfwdv1.EchoStart) {
	a.mu.Lock()
	a.echoStarts = append(a.echoStarts, e)
	a.mu.Unlock()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(e.GetPort()))))
	if err != nil {
		a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{ProbeId: e.GetProbeId(), Error: err.Error()}}})
		return
	}
	a.mu.Lock()
	a.echoes[e.GetProbeId()] = l
	fail := a.failWSLToHost
	a.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	port := uint32(l.Addr().(*net.TCPAddr).Port)
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
		Added: []*wslfwdv1.Listener{tcpListener("127.0.0.1", port, "wslfwd-agent")}}}})
	w2h := &wslfwdv1.PathResult{From: "wsl (test)", To: e.GetHostTarget()}
	start := time.Now()
	if c, err := net.DialTimeout("tcp", e.GetHostTarget(), 5*time.Second); err != nil {
		w2h.Error = err.Error()
	} else {
		c.Close()
		w2h.Ok, w2h.Latency = true, durationpb.New(time.Since(start))
	}
	if fail {
		w2h.Ok, w2h.Latency, w2h.Error = false, nil, "dial tcp "+e.GetHostTarget()+": connect: connection refused"
	}
	a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_EchoReady{EchoReady: &wslfwdv1.EchoReady{
		ProbeId: e.GetProbeId(), Listen: "0.0.0.0", Port: port, WslToHost: w2h}}})
}

func tcpListener(addr string, port uint32, process string) *wslfwdv1.Listener {
	return &wslfwdv1.Listener{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Family: wslfwdv1.AddressFamily_ADDRESS_FAMILY_IPV4,
		Listen: addr, Port: port, Inode: uint64(port), Pid: 4242, ProcessName: process}
}

// freePort returns a TCP port free on the expose address, so the relay
// can listen there for a listener the stand-in agent reports.
func freePort(t *testing.T) uint32 {
	t.Helper()
	l, err := net.Listen("tcp", exposeAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port)
}

// pollForwards runs `forwards -o json` until cond holds for the response.
func pollForwards(t *testing.T, rd realDaemon, cond func(*wslfwdv1.ListForwardsResponse) bool, extra ...string) *wslfwdv1.ListForwardsResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last result
	for time.Now().Before(deadline) {
		last = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, append([]string{"forwards", "-o", "json"}, extra...)...)...)
		if last.code == 0 {
			var resp wslfwdv1.ListForwardsResponse
			decode(t, last.stdout, &resp)
			if cond(&resp) {
				return &resp
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("forwards never matched; last exit %d:\n%s%s", last.code, last.stdout, last.stderr)
	return nil
}

// waitAgent polls `agents -o json` until distro is connected.
func waitAgent(t *testing.T, rd realDaemon, distro string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "agents", "-o", "json")...)
		if r.code == 0 {
			var resp wslfwdv1.ListAgentsResponse
			decode(t, r.stdout, &resp)
			for _, a := range resp.GetAgents() {
				if a.GetDistro() == distro && a.GetConnected() {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("agent %s never connected", distro)
}

func findForward(r *wslfwdv1.ListForwardsResponse, port uint32) *wslfwdv1.Forward {
	for _, f := range r.GetForwards() {
		if f.GetConnectPort() == port {
			return f
		}
	}
	return nil
}

func TestRealDaemonForwardsStatusAgents(t *testing.T) {
	rd := startRealDaemon(t)
	port := freePort(t)
	connectAgent(t, rd, "Ubuntu", tcpListener("0.0.0.0", port, "demo-http"), tcpListener("127.0.0.1", 6379, "redis-server"))

	// The demo service's forward, with its process name, as the lab
	// checks it.
	resp := pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool {
		f := findForward(r, port)
		return f != nil && f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	})
	f := findForward(resp, port)
	if f.GetProcessName() != "demo-http" || f.GetDistro() != "Ubuntu" || f.GetListenAddress() != exposeAddr ||
		f.GetListenPort() != port || f.GetConnectAddress() != targetAddr || f.GetBackend() != "relay" {
		t.Errorf("forward: %v", f)
	}

	// --all adds the loopback-only listener, with the reason.
	all := pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool { return findForward(r, 6379) != nil }, "--all")
	if b := findForward(all, 6379); b.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED || b.GetReason() == "" {
		t.Errorf("loopback listener: %v", b)
	}
	r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "forwards", "--all")...)
	mustContain(t, "forwards --all table", r.stdout, "demo-http", "ACTIVE", "redis-server", "BLOCKED", "REASON")

	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "status")...)
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "status", r.stdout, "Backend:    relay", "Expose:     "+exposeAddr, "Agents:     1 connected", "1 active")

	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "agents")...)
	mustContain(t, "agents", r.stdout, "Ubuntu", "nat", distroAddr, "connected")

	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "doctor")...)
	if r.code != 0 {
		t.Errorf("doctor on a healthy daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestRealDaemonExposeUnexpose(t *testing.T) {
	rd := startRealDaemon(t)
	connectAgent(t, rd, "Ubuntu")
	waitAgent(t, rd, "Ubuntu")
	hostPort := freeUDPPort(t)

	r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "expose", "53/udp", "--host-port", strconv.Itoa(int(hostPort)), "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("expose: exit %d: %s", r.code, r.stderr)
	}
	var exp wslfwdv1.ExposeResponse
	decode(t, r.stdout, &exp)
	f := exp.GetForward()
	if f.GetProtocol() != wslfwdv1.Protocol_PROTOCOL_UDP || f.GetListenPort() != hostPort || f.GetConnectPort() != 53 ||
		f.GetDistro() != "Ubuntu" || f.GetOrigin() != wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC {
		t.Errorf("exposed: %v", f)
	}
	pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool { return findForward(r, 53) != nil })

	// A read token may not change anything.
	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "unexpose", strconv.Itoa(int(hostPort))+"/udp")...)
	if r.code != exitFailure {
		t.Errorf("unexpose with the read token: exit %d", r.code)
	}
	mustContain(t, "stderr", r.stderr, "is not allowed", "admin token")

	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "unexpose", strconv.Itoa(int(hostPort))+"/udp")...)
	if r.code != 0 {
		t.Fatalf("unexpose: exit %d: %s", r.code, r.stderr)
	}
	mustContain(t, "unexpose", r.stdout, "Removed udp "+exposeAddr+":"+strconv.Itoa(int(hostPort))+" -> ")
	pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool { return findForward(r, 53) == nil })

	// Removing it again is an error that says so.
	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "unexpose", strconv.Itoa(int(hostPort))+"/udp")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "unexpose "+strconv.Itoa(int(hostPort))+"/udp: ") {
		t.Errorf("second unexpose: exit %d, %s", r.code, r.stderr)
	}
}

func TestRealDaemonRefusesAgentToken(t *testing.T) {
	rd := startRealDaemon(t)
	r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.agentTok, "status")...)
	if r.code != exitFailure {
		t.Errorf("status with the agent token: exit %d", r.code)
	}
	mustContain(t, "stderr", r.stderr, "agent's token is refused", "the agent token may not call")

	wrong := writeOtherToken(t)
	r = runCLI(t, t.Context(), plainLinux(), rd.args(wrong, "forwards")...)
	if r.code != exitFailure {
		t.Errorf("forwards with an unknown token: exit %d", r.code)
	}
	// The daemon cannot prove a token it does not hold, so the CLI sends
	// it nothing.
	mustContain(t, "stderr", r.stderr, "did not prove it holds the token from "+wrong+", so the token was not sent")
}

func TestRealDaemonProbe(t *testing.T) {
	rd := startRealDaemon(t)
	a := connectAgent(t, rd, "Ubuntu")
	waitAgent(t, rd, "Ubuntu")

	// The stand-in's echo listener is loopback-only, so the daemon reports
	// the paths through the forward failing, with the reason, and the
	// agent's own path passing.
	r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "probe", "--distro", "Ubuntu", "--step-timeout", "3s")...)
	if r.code != exitFailure {
		t.Errorf("probe: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustContain(t, "probe table", r.stdout, "Probe of Ubuntu", "wsl-to-host", "PASS", "host-to-wsl", "FAIL", "not forwarded",
		"2 of 3 paths failed: host-to-wsl, lan-to-wsl.")
	if strings.Count(r.stdout+r.stderr, "paths failed") != 1 {
		t.Errorf("probe says its verdict more than once:\n%s%s", r.stdout, r.stderr)
	}

	a.mu.Lock()
	a.failWSLToHost = true
	a.mu.Unlock()
	port := freePort(t)
	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "probe", "--port", strconv.Itoa(int(port)), "-o", "json")...)
	if r.code != exitFailure {
		t.Errorf("probe -o json: exit %d", r.code)
	}
	var resp wslfwdv1.ProbeResponse
	decode(t, r.stdout, &resp)
	if resp.GetOk() || len(resp.GetPaths()) != 3 || resp.GetPaths()[0].GetOk() || !strings.Contains(resp.GetPaths()[0].GetError(), "connection refused") {
		t.Errorf("probe: %v", &resp)
	}
	mustContain(t, "stderr", r.stderr, "3 of 3 paths failed: wsl-to-host, host-to-wsl, lan-to-wsl")
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.echoStarts); n != 2 || a.echoStarts[1].GetPort() != port {
		t.Errorf("echo starts: %v; want the second on port %d", a.echoStarts, port)
	}

	// A read token may not probe.
	r = runCLI(t, t.Context(), plainLinux(), rd.args(rd.read, "probe")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "is not allowed") {
		t.Errorf("probe with the read token: exit %d, %s", r.code, r.stderr)
	}
}

func TestRealDaemonWatch(t *testing.T) {
	rd := startRealDaemon(t)
	a := connectAgent(t, rd, "Ubuntu")
	waitAgent(t, rd, "Ubuntu")

	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncbuf.Buffer
	app := newApp(plainLinux(), &stdout, &stderr)
	done := make(chan int)
	go func() { done <- run(ctx, rd.args(rd.read, "watch", "-o", "json"), app) }()

	// Keep adding listeners, each on a new port, until one shows up in the
	// stream: the watch may not be subscribed when the first is added. A
	// listener is never removed here, so no step can fold an add and its
	// remove into nothing, however slowly the machine runs.
	var added []string
	seen := func() bool {
		out := stdout.String()
		for _, p := range added {
			// protojson puts a space after the colon or not, at random.
			if regexp.MustCompile(`"connect_port":\s*` + p + `\b`).MatchString(out) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for !seen() {
		if time.Now().After(deadline) {
			t.Fatalf("no forward event for ports %v; got %q %q", added, stdout.String(), stderr.String())
		}
		port := freePort(t)
		added = append(added, strconv.Itoa(int(port)))
		a.send(&wslfwdv1.AgentMessage{Msg: &wslfwdv1.AgentMessage_Changes{Changes: &wslfwdv1.Changes{
			Added: []*wslfwdv1.Listener{tcpListener("0.0.0.0", port, "demo-http")}}}})
		for wait := time.Now().Add(time.Second); !seen() && time.Now().Before(wait); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch after interrupt: exit %d, %s", code, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var ev wslfwdv1.WatchResponse
		decode(t, line, &ev)
	}
}

// freeUDPPort returns a UDP port free on the expose address.
func freeUDPPort(t *testing.T) uint32 {
	t.Helper()
	c, err := net.ListenPacket("udp", exposeAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint32(c.LocalAddr().(*net.UDPAddr).Port)
}

// Exposing a port whose listener is already forwarded: the static takes
// the forward over, so `forwards` lists it once, as static, and --all
// lists the listener as carried by it.
func TestRealDaemonExposeOverAutomaticForward(t *testing.T) {
	rd := startRealDaemon(t)
	port := freePort(t)
	connectAgent(t, rd, "Ubuntu", tcpListener("0.0.0.0", port, "demo-http"))
	pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool {
		f := findForward(r, port)
		return f != nil && f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	})
	p := strconv.Itoa(int(port))
	if r := runCLI(t, t.Context(), plainLinux(), rd.args(rd.admin, "expose", p)...); r.code != 0 {
		t.Fatalf("expose %s: exit %d: %s", p, r.code, r.stderr)
	}
	resp := pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool {
		f := findForward(r, port)
		return f.GetOrigin() == wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_STATIC && f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	})
	if n := len(resp.GetForwards()); n != 1 {
		t.Errorf("forwards after expose: %d rows, want 1: %v", n, resp.GetForwards())
	}
	all := pollForwards(t, rd, func(r *wslfwdv1.ListForwardsResponse) bool { return len(r.GetForwards()) == 2 }, "--all")
	for _, f := range all.GetForwards() {
		if f.GetOrigin() == wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT &&
			(f.GetState() != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE || f.GetReason() != "forwarded by the static forward to Ubuntu port "+p) {
			t.Errorf("listener's row under --all: %v", f)
		}
	}
}
