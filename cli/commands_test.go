package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/syncbuf"
	"github.com/wslfwd/wslfwd/internal/token"
)

func sampleStatus() *wslfwdv1.GetStatusResponse {
	return &wslfwdv1.GetStatusResponse{
		Version:         "1.2.3",
		StartedAt:       timestamppb.New(fixedNow.Add(-90 * time.Minute)),
		Backend:         "relay",
		ListenAddresses: []string{"127.0.0.1:17810"},
		ExposeAddress:   "0.0.0.0",
		AgentsConnected: 1,
		ForwardsByState: []*wslfwdv1.StateCount{
			{State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Count: 2},
		},
		Os: "linux",
	}
}

func sampleAgents() *wslfwdv1.ListAgentsResponse {
	return &wslfwdv1.ListAgentsResponse{Agents: []*wslfwdv1.Agent{{
		Distro:         "Ubuntu",
		NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		ListenerCount:  3,
		Connected:      true,
		ConnectedAt:    timestamppb.New(fixedNow.Add(-5 * time.Minute)),
	}}, Refusals: []*wslfwdv1.AgentRefusal{{
		Distro: "Ubuntu", PeerAddress: "172.28.240.99", Code: "AlreadyExists", Count: 3,
		Reason: `distro "Ubuntu" already has a live agent connected from 172.28.240.53`,
		First:  timestamppb.New(fixedNow.Add(-time.Minute)), Last: timestamppb.New(fixedNow.Add(-10 * time.Second)),
	}}}
}

func sampleForwards() *wslfwdv1.ListForwardsResponse {
	return &wslfwdv1.ListForwardsResponse{Forwards: []*wslfwdv1.Forward{
		{
			Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenAddress: "0.0.0.0", ListenPort: 8080,
			ConnectAddress: "172.28.240.53", ConnectPort: 8080, Distro: "Ubuntu",
			ProcessName: "demo-http", Pid: 4242, Backend: "relay",
			State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Origin: wslfwdv1.ForwardOrigin_FORWARD_ORIGIN_AGENT,
		},
		{
			Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenerAddress: "127.0.0.1", ConnectPort: 5432,
			Distro: "Ubuntu", ProcessName: "postgres", State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED,
			Reason: "bound to loopback only",
		},
	}}
}

func pathResult(name string, ok bool, why string) *wslfwdv1.PathResult {
	p := &wslfwdv1.PathResult{Name: name, From: "x", To: "10.2.3.1:40123", Ok: ok, Error: why}
	if ok {
		p.Latency = durationpb.New(1200 * time.Microsecond)
	}
	return p
}

// decode parses the CLI's JSON output into m, failing the test when it is
// not exactly one document of m's type.
func decode(t *testing.T, out string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		t.Fatalf("output is not one %s JSON document: %v\n%s", m.ProtoReflect().Descriptor().Name(), err, out)
	}
}

// roundTrip checks that out, the CLI's JSON output, is one document equal
// to want.
func roundTrip(t *testing.T, out string, want proto.Message) {
	t.Helper()
	got := want.ProtoReflect().New().Interface()
	decode(t, out, got)
	if !proto.Equal(got, want) {
		t.Errorf("json round trip: got %v, want %v", got, want)
	}
}

func TestStatus(t *testing.T) {
	d := startFake(t, &fakeControl{status: sampleStatus()})
	r := runCLI(t, t.Context(), plainLinux(), d.args("status")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "status table", r.stdout, "1.2.3 on linux, up 1h30m", "relay", "2 active", "Problems:   none")

	r = runCLI(t, t.Context(), plainLinux(), d.args("status", "-o", "json")...)
	roundTrip(t, r.stdout, sampleStatus())
	mustContain(t, "status json", r.stdout, `"listen_addresses"`, `"agents_connected"`)
}

// status says which connected agents run another version than the
// daemon, and how to update them; agents of its own version pass quietly.
func TestStatusWarnsOfOtherAgentVersions(t *testing.T) {
	agents := sampleAgents()
	agents.Agents[0].AgentVersion = "1.2.2"
	agents.Agents = append(agents.Agents,
		&wslfwdv1.Agent{Distro: "Debian", Connected: true, AgentVersion: "1.2.3"},
		&wslfwdv1.Agent{Distro: "Arch", Connected: false, AgentVersion: "1.0.0"})
	d := startFake(t, &fakeControl{status: sampleStatus(), agents: agents})
	r := runCLI(t, t.Context(), plainLinux(), d.args("status")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "status", r.stdout, "WARNING: the agent in Ubuntu is version 1.2.2, the daemon 1.2.3: ", "wslfwd setup --distro Ubuntu")
	if strings.Count(r.stdout, "WARNING") != 1 {
		t.Errorf("status warns of agents of the daemon's version, or of gone ones:\n%s", r.stdout)
	}
}

func TestAgents(t *testing.T) {
	d := startFake(t, &fakeControl{agents: sampleAgents()})
	r := runCLI(t, t.Context(), plainLinux(), d.args("agents")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "agents table", r.stdout, "DISTRO", "Ubuntu", "nat", "connected 5m",
		"Refused agent sessions", "172.28.240.99", "10s ago", "AlreadyExists: distro \"Ubuntu\" already has a live agent")
	r = runCLI(t, t.Context(), plainLinux(), d.args("agents", "-o", "json")...)
	roundTrip(t, r.stdout, sampleAgents())
}

func TestForwards(t *testing.T) {
	d := startFake(t, &fakeControl{forwards: sampleForwards()})
	for _, tc := range []struct {
		args []string
		all  bool
	}{
		{[]string{"forwards"}, false},
		{[]string{"forwards", "--all"}, true},
		{[]string{"forwards", "-a"}, true},
	} {
		r := runCLI(t, t.Context(), plainLinux(), d.args(tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", tc.args, r.code, r.stderr)
		}
		want := &wslfwdv1.ListForwardsRequest{All: tc.all}
		if got := d.fake.last(t); !proto.Equal(got, want) {
			t.Errorf("%v: sent %v, want %v", tc.args, got, want)
		}
		mustContain(t, "forwards table", r.stdout, "0.0.0.0:8080", "172.28.240.53:8080", "demo-http", "REASON", "bound to loopback only")
	}
	r := runCLI(t, t.Context(), plainLinux(), d.args("forwards", "-o", "json")...)
	roundTrip(t, r.stdout, sampleForwards())
	mustContain(t, "forwards json", r.stdout, `"process_name"`, `"listen_port"`)
}

func TestExposeSendsRequest(t *testing.T) {
	fwd := &wslfwdv1.Forward{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, ListenAddress: "0.0.0.0", ListenPort: 5353,
		ConnectAddress: "172.28.240.53", ConnectPort: 53, Distro: "Ubuntu", State: wslfwdv1.ForwardState_FORWARD_STATE_PENDING,
		Reason: "waiting for the backend"}
	d := startFake(t, &fakeControl{expose: &wslfwdv1.ExposeResponse{Forward: fwd}})
	for _, tc := range []struct {
		args []string
		want *wslfwdv1.ExposeRequest
	}{
		{[]string{"expose", "53/udp", "--host-port", "5353"},
			&wslfwdv1.ExposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Port: 53, HostPort: 5353}},
		{[]string{"expose", "8080"},
			&wslfwdv1.ExposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: 8080}},
		{[]string{"expose", "22/TCP", "--distro", "Ubuntu", "--listen-address", "192.168.1.20", "--host-port", "2222"},
			&wslfwdv1.ExposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: 22, Distro: "Ubuntu", HostPort: 2222, ListenAddress: "192.168.1.20"}},
		{[]string{"expose", "65535", "--listen-address", "::ffff:10.0.0.1"},
			&wslfwdv1.ExposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: 65535, ListenAddress: "10.0.0.1"}},
	} {
		r := runCLI(t, t.Context(), plainLinux(), d.args(tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", tc.args, r.code, r.stderr)
		}
		if got := d.fake.last(t); !proto.Equal(got, tc.want) {
			t.Errorf("%v: sent %v, want %v", tc.args, got, tc.want)
		}
		want := "Exposed udp 0.0.0.0:5353 -> 172.28.240.53:53 (Ubuntu): PENDING, waiting for the backend\n"
		if r.stdout != want {
			t.Errorf("%v: printed %q, want %q", tc.args, r.stdout, want)
		}
	}
	r := runCLI(t, t.Context(), plainLinux(), d.args("expose", "53/udp", "-o", "json")...)
	roundTrip(t, r.stdout, &wslfwdv1.ExposeResponse{Forward: fwd})
}

func TestUnexposeSendsRequest(t *testing.T) {
	fwd := &wslfwdv1.Forward{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, ListenAddress: "0.0.0.0", ListenPort: 5353,
		ConnectAddress: "172.28.240.53", ConnectPort: 53, Distro: "Ubuntu"}
	d := startFake(t, &fakeControl{unexpose: &wslfwdv1.UnexposeResponse{Forward: fwd}})
	for _, tc := range []struct {
		args []string
		want *wslfwdv1.UnexposeRequest
	}{
		{[]string{"unexpose", "5353/udp"},
			&wslfwdv1.UnexposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, HostPort: 5353}},
		{[]string{"unexpose", "2222", "--listen-address", "192.168.1.20"},
			&wslfwdv1.UnexposeRequest{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, HostPort: 2222, ListenAddress: "192.168.1.20"}},
	} {
		r := runCLI(t, t.Context(), plainLinux(), d.args(tc.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", tc.args, r.code, r.stderr)
		}
		if got := d.fake.last(t); !proto.Equal(got, tc.want) {
			t.Errorf("%v: sent %v, want %v", tc.args, got, tc.want)
		}
		mustContain(t, "unexpose output", r.stdout, "Removed udp 0.0.0.0:5353 -> 172.28.240.53:53 (Ubuntu)")
	}
}

func TestBadCommandLineExits2AndSendsNothing(t *testing.T) {
	fake := &fakeControl{status: sampleStatus()}
	d := startFake(t, fake)
	for _, argv := range [][]string{
		{"expose"},
		{"expose", "0"},
		{"expose", "65536"},
		{"expose", "53/sctp"},
		{"expose", "-1"},
		{"expose", "80", "81"},
		{"expose", "80", "--host-port", "0"},
		{"expose", "80", "--host-port", "70000"},
		{"expose", "80", "--listen-address", "example.com"},
		{"unexpose", "http"},
		{"probe", "--port", "65536"},
		{"probe", "--step-timeout", "-1s"},
		{"status", "extra"},
		{"status", "-o", "yaml"},
		{"status", "--timeout", "0s"},
		{"status", "--nope"},
		{"statsu"},
	} {
		r := runCLI(t, t.Context(), plainLinux(), d.args(argv...)...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", argv, r.code, exitUsage, r.stderr)
		}
		mustContain(t, "stderr", r.stderr, "--help' for usage")
	}
	r := runCLI(t, t.Context(), plainLinux(), "--host", "a b", "status")
	if r.code != exitUsage {
		t.Errorf("--host 'a b': exit %d, want %d", r.code, exitUsage)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.requests) != 0 {
		t.Errorf("bad command lines reached the daemon: %v", fake.requests)
	}
}

func TestProbe(t *testing.T) {
	fake := &fakeControl{}
	d := startFake(t, fake)

	fake.probe = &wslfwdv1.ProbeResponse{Distro: "Ubuntu", Port: 40123, Ok: true, Paths: []*wslfwdv1.PathResult{
		pathResult("wsl-to-host", true, ""), pathResult("host-to-wsl", true, ""), pathResult("lan-to-wsl", true, ""),
	}}
	r := runCLI(t, t.Context(), plainLinux(), d.args("probe", "--distro", "Ubuntu", "--port", "40123", "--step-timeout", "2s")...)
	if r.code != 0 {
		t.Fatalf("passing probe: exit %d, stderr %s", r.code, r.stderr)
	}
	want := &wslfwdv1.ProbeRequest{Distro: "Ubuntu", Port: 40123, Timeout: durationpb.New(2 * time.Second)}
	if got := d.fake.last(t); !proto.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	mustContain(t, "probe table", r.stdout, "All 3 paths passed.", "PASS", "1.2ms")
	// A passing lan-to-wsl is no LAN check: the output says so and how
	// to make one from another machine, at the address it dialed.
	mustContain(t, "probe note", r.stdout, "Note: lan-to-wsl ran on this host", "tested the forward, not whether LAN clients get",
		"Test-NetConnection 10.2.3.1 -Port <port>", "nc -vz 10.2.3.1 <port>", "wslfwd probe --from-lan 10.2.3.1 --port <port>")

	fake.probe = &wslfwdv1.ProbeResponse{Distro: "Ubuntu", Port: 40123, Ok: false, Paths: []*wslfwdv1.PathResult{
		pathResult("wsl-to-host", true, ""), pathResult("host-to-wsl", true, ""),
		pathResult("lan-to-wsl", false, "dial tcp 10.2.3.1:40123: connection refused"),
	}}
	for _, format := range []string{"table", "json"} {
		r = runCLI(t, t.Context(), plainLinux(), d.args("probe", "-o", format)...)
		if r.code != exitFailure {
			t.Errorf("failing probe, -o %s: exit %d, want %d", format, r.code, exitFailure)
		}
		if format == "table" {
			// The verdict is said once: on the table's last line.
			mustContain(t, "probe table", r.stdout, "FAIL", "connection refused", "1 of 3 paths failed: lan-to-wsl.")
			if n := strings.Count(r.stdout+r.stderr, "paths failed"); n != 1 || r.stderr != "" {
				t.Errorf("failing probe: verdict said %d times, stderr %q; want once, on stdout", n, r.stderr)
			}
		} else {
			mustContain(t, "stderr", r.stderr, "1 of 3 paths failed: lan-to-wsl")
			roundTrip(t, r.stdout, fake.probe)
		}
	}
	if got := d.fake.last(t); !proto.Equal(got, &wslfwdv1.ProbeRequest{}) {
		t.Errorf("probe without flags sent %v, want an empty request", got)
	}
}

func TestProbeTrustsNeitherSideAlone(t *testing.T) {
	for name, resp := range map[string]*wslfwdv1.ProbeResponse{
		"no paths":      {Ok: true},
		"daemon not ok": {Ok: false, Paths: []*wslfwdv1.PathResult{pathResult("wsl-to-host", true, "")}},
		"path failed":   {Ok: true, Paths: []*wslfwdv1.PathResult{pathResult("wsl-to-host", false, "timeout")}},
	} {
		d := startFake(t, &fakeControl{probe: resp})
		if r := runCLI(t, t.Context(), plainLinux(), d.args("probe")...); r.code != exitFailure {
			t.Errorf("%s: exit %d, want %d", name, r.code, exitFailure)
		}
	}
}

func watchEvents() []*wslfwdv1.WatchResponse {
	return []*wslfwdv1.WatchResponse{
		{Time: timestamppb.New(fixedNow), Event: &wslfwdv1.WatchResponse_Agent{Agent: &wslfwdv1.AgentEvent{
			Kind: wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED, Agent: sampleAgents().Agents[0]}}},
		{Time: timestamppb.New(fixedNow.Add(time.Second)), Event: &wslfwdv1.WatchResponse_Forward{Forward: &wslfwdv1.ForwardEvent{
			Kind: wslfwdv1.ForwardEventKind_FORWARD_EVENT_KIND_ADDED, Forward: sampleForwards().Forwards[0]}}},
	}
}

// waitLines polls out until it holds n lines or the deadline passes.
func waitLines(t *testing.T, out *syncbuf.Buffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := out.String()
		if strings.Count(s, "\n") >= n {
			return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %d lines within 10s; got %q", n, out.String())
	return nil
}

func TestWatchUntilInterrupted(t *testing.T) {
	d := startFake(t, &fakeControl{events: watchEvents()})
	for _, format := range []string{"table", "json"} {
		ctx, cancel := context.WithCancel(t.Context())
		var stdout, stderr syncbuf.Buffer
		a := newApp(plainLinux(), &stdout, &stderr)
		a.loc = time.UTC
		done := make(chan int)
		go func() { done <- run(ctx, d.args("watch", "--initial", "-o", format), a) }()
		lines := waitLines(t, &stdout, 2)
		cancel() // as Ctrl-C does
		if code := <-done; code != 0 {
			t.Errorf("-o %s: exit %d after interrupt, want 0; stderr %s", format, code, stderr.String())
		}
		if got := d.fake.last(t); !proto.Equal(got, &wslfwdv1.WatchRequest{Initial: true}) {
			t.Errorf("sent %v", got)
		}
		if len(lines) != 2 {
			t.Fatalf("-o %s: %d lines, want 2:\n%s", format, len(lines), stdout.String())
		}
		if format == "table" {
			mustContain(t, "line 1", lines[0], "12:00:00.000", "agent connected", "Ubuntu nat")
			mustContain(t, "line 2", lines[1], "forward added", "tcp 0.0.0.0:8080 -> 172.28.240.53:8080 (Ubuntu) demo-http ACTIVE")
			continue
		}
		for i, line := range lines {
			var ev wslfwdv1.WatchResponse
			decode(t, line, &ev)
			if !proto.Equal(&ev, watchEvents()[i]) {
				t.Errorf("json line %d: got %v", i, &ev)
			}
		}
	}
}

func TestWatchFailsWhenStreamBreaks(t *testing.T) {
	d := startFake(t, &fakeControl{events: watchEvents()[:1], watchErr: status.Error(codes.Internal, "engine stopped")})
	r := runCLI(t, t.Context(), plainLinux(), d.args("watch")...)
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d", r.code, exitFailure)
	}
	mustContain(t, "stderr", r.stderr, "watch: engine stopped")
	mustContain(t, "stdout", r.stdout, "agent connected")
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableDaemon(t *testing.T) {
	d := startFake(t, &fakeControl{})
	addr := closedPort(t)
	for _, cmd := range []string{"status", "agents", "forwards", "watch", "probe"} {
		r := runCLI(t, t.Context(), plainLinux(), "--host", addr, "--token-file", d.tokenFile, cmd)
		if r.code != exitFailure {
			t.Errorf("%s: exit %d, want %d", cmd, r.code, exitFailure)
		}
		// The cause is the OS's words: "connection refused" on Linux,
		// "No connection could be made because the target machine
		// actively refused it" on Windows ("Connection refused" under Wine).
		mustContain(t, cmd+" stderr", r.stderr, "daemon unreachable at "+addr+" (from --host): ", "pass --host")
		if !strings.Contains(strings.ToLower(r.stderr), "refused;") {
			t.Errorf("%s: stderr does not end its cause with the refusal: %q", cmd, r.stderr)
		}
		for _, raw := range []string{"desc =", "transport:", "rpc error", "dial tcp"} {
			if strings.Contains(r.stderr, raw) {
				t.Errorf("%s: gRPC transport text %q in %q", cmd, raw, r.stderr)
			}
		}
	}
}

// A token the daemon does not hold is never sent: the daemon cannot
// prove it holds it, and the CLI says what that may mean.
func TestRejectedToken(t *testing.T) {
	d := startFake(t, &fakeControl{status: sampleStatus()})
	wrong := writeOtherToken(t)
	r := runCLI(t, t.Context(), plainLinux(), "--host", d.addr, "--token-file", wrong, "status")
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d", r.code, exitFailure)
	}
	mustContain(t, "stderr", r.stderr, "what answers at "+d.addr+" (from --host) did not prove it holds the token from "+wrong+", so the token was not sent",
		"it does not know the token", "--token-file", "another program answers on the daemon's address")
}

// writeOtherToken writes a valid token no fake daemon accepts.
func writeOtherToken(t *testing.T) string {
	t.Helper()
	other, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.token")
	if err := os.WriteFile(path, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNoToken(t *testing.T) {
	r := runCLI(t, t.Context(), plainLinux(), "status")
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d", r.code, exitFailure)
	}
	mustContain(t, "stderr", r.stderr,
		"no token: tried /var/lib/wslfwd/token (does not exist), /var/lib/wslfwd/read.token (does not exist)",
		"--token-file")

	r = runCLI(t, t.Context(), plainLinux(), "--token-file", filepath.Join(t.TempDir(), "missing"), "status")
	if r.code != exitFailure {
		t.Errorf("missing --token-file: exit %d, want %d", r.code, exitFailure)
	}
	mustContain(t, "stderr", r.stderr, "--token-file: token file", "does not exist")
}

func TestDaemonErrorsAreExplained(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.PermissionDenied, "the read token may not call Expose"), "need the read or admin token"},
		{status.Error(codes.InvalidArgument, "distro required: 2 agents known"), "expose 80/tcp: distro required: 2 agents known"},
		{status.Error(codes.Unimplemented, "not yet"), "does not support this call"},
	} {
		d := startFake(t, &fakeControl{err: tc.err})
		r := runCLI(t, t.Context(), plainLinux(), d.args("expose", "80")...)
		if r.code != exitFailure {
			t.Errorf("%v: exit %d, want %d", tc.err, r.code, exitFailure)
		}
		mustContain(t, "stderr", r.stderr, tc.want)
	}
}

func TestVersion(t *testing.T) {
	d := startFake(t, &fakeControl{status: sampleStatus()})
	r := runCLI(t, t.Context(), plainLinux(), d.args("version")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "version", r.stdout, "wslfwd ", "wslfwd-hostd 1.2.3 at "+d.addr)

	r = runCLI(t, t.Context(), plainLinux(), "--host", closedPort(t), "--token-file", d.tokenFile, "version", "-o", "json")
	if r.code != 0 {
		t.Errorf("unreachable daemon: exit %d, want 0", r.code)
	}
	mustContain(t, "version json", r.stdout, `"cli_version"`, `"daemon_error": "daemon unreachable at`)
}

func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	root := newRoot(newApp(plainLinux(), nil, nil))
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: Short, Long and Example must all be set", c.Name())
		}
	}
}

func TestCompletionScript(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runCLI(t, t.Context(), plainLinux(), "completion", shell)
		if r.code != 0 {
			t.Errorf("%s: exit %d, stderr %s", shell, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "wslfwd") {
			t.Errorf("%s: the script does not mention wslfwd", shell)
		}
	}
	// Completing -o offers the two formats.
	r := runCLI(t, t.Context(), plainLinux(), "__complete", "status", "-o", "")
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	var got []string
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), ":") {
			got = append(got, sc.Text())
		}
	}
	if strings.Join(got, ",") != "table,json" {
		t.Errorf("completions for -o: %q", got)
	}
}

func TestDistroCompletionAsksTheDaemon(t *testing.T) {
	d := startFake(t, &fakeControl{agents: sampleAgents()})
	r := runCLI(t, t.Context(), plainLinux(), append([]string{"__complete"}, d.args("expose", "--distro", "")...)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Ubuntu\n") {
		t.Errorf("completion: exit %d, %q", r.code, r.stdout)
	}
	// Without a daemon it offers nothing and prints no error.
	r = runCLI(t, t.Context(), plainLinux(), "__complete", "--host", closedPort(t), "probe", "--distro", "")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ":") || strings.Contains(r.stderr, "wslfwd:") {
		t.Errorf("completion without a daemon: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

// What the daemon (or whoever passed its proof) says reaches the terminal
// without control characters, on every path: a problem's message in
// status, an error in stderr. They are shown as "?".
func TestDaemonTextCannotCommandTheTerminal(t *testing.T) {
	st := sampleStatus()
	st.Problems = []*wslfwdv1.Problem{{Code: "x", Message: "retitled\x1b]0;pwn\x07", Hint: "cleared\x1b[2J"}}
	d := startFake(t, &fakeControl{status: st})
	r := runCLI(t, t.Context(), plainLinux(), d.args("status")...)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	mustContain(t, "status", r.stdout, "retitled?]0;pwn?", "cleared?[2J")
	bad := runCLI(t, t.Context(), plainLinux(), "--host", d.addr, "--token-file", "/nonexistent/\x1b[2J", "status")
	if bad.code == 0 || !strings.Contains(bad.stderr, "/nonexistent/?[2J") {
		t.Errorf("a bad token file: exit %d, stderr %q; want it named with ? for the escape", bad.code, bad.stderr)
	}
	for _, out := range []string{r.stdout, r.stderr, bad.stdout, bad.stderr} {
		if strings.ContainsRune(out, '\x1b') {
			t.Errorf("an escape reached the terminal: %q", out)
		}
	}
}
