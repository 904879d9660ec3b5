package main

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// fakeMachine is a Windows box with a service, a daemon, distros and a
// firewall, as selftest sees them. The daemon forwards the test listener
// after forwardAfter listings, and makes its rule after ruleAfter.
type fakeMachine struct {
	wslfwdv1.ControlServiceClient // calls not faked panic

	mu                    sync.Mutex
	elevated, firewallOn  bool
	installed, running    bool
	running2              wsl.DistroList
	agents                []*wslfwdv1.Agent
	problems              []*wslfwdv1.Problem
	forwardState          wslfwdv1.ForwardState
	forwardAfter          int
	ruleAfter             int // -1: never
	listings, ruleLists   int
	listenerUp, connected bool
	stopped, uninstalled  bool
	did                   []string
}

func (m *fakeMachine) log(s string) { m.did = append(m.did, s) }

func (m *fakeMachine) Facts(context.Context) [][2]string {
	return [][2]string{{"wslfwd-hostd", "1.2.3 (windows/amd64)"}, {"windows", "10.0.22631"}}
}
func (m *fakeMachine) Elevated() bool { return m.elevated }
func (m *fakeMachine) Service() (bool, bool, error) {
	return m.installed, m.running, nil
}
func (m *fakeMachine) Install(context.Context) error {
	m.installed = true
	m.log("install")
	return nil
}
func (m *fakeMachine) Start() error { m.running = true; m.log("start"); return nil }
func (m *fakeMachine) Daemon() (wslfwdv1.ControlServiceClient, func(), error) {
	if !m.running {
		return nil, nil, errors.New("connection refused")
	}
	return m, func() {}, nil
}
func (m *fakeMachine) RunningDistros(context.Context) (wsl.DistroList, error) {
	return m.running2, nil
}
func (m *fakeMachine) StartListener(_ context.Context, distro string, port uint16) (func() string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listenerUp = true
	m.log("listen " + distro)
	return func() string {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.listenerUp, m.stopped = false, true
		return "Serving HTTP on 0.0.0.0 port 41234 (http://0.0.0.0:41234/) ...\n"
	}, nil
}
func (m *fakeMachine) LANAddress() (netip.Addr, error) {
	return netip.MustParseAddr("192.168.1.20"), nil
}
func (m *fakeMachine) Connect(_ context.Context, to netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.listenerUp || to != netip.MustParseAddrPort("192.168.1.20:41234") {
		return errors.New("connection refused")
	}
	m.connected = true
	return nil
}
func (m *fakeMachine) FirewallRules(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ruleLists++
	names := []string{"wslfwd daemon (gRPC from WSL)", "My rule"}
	if m.ruleAfter >= 0 && m.ruleLists > m.ruleAfter {
		names = append(names, "wslfwd tcp/41234")
	}
	return names, nil
}
func (m *fakeMachine) FirewallOn() bool { return m.firewallOn }
func (m *fakeMachine) Uninstall(context.Context) error {
	m.uninstalled = true
	return nil
}

func (m *fakeMachine) GetStatus(context.Context, *wslfwdv1.GetStatusRequest, ...grpc.CallOption) (*wslfwdv1.GetStatusResponse, error) {
	return &wslfwdv1.GetStatusResponse{Version: "1.2.3", Backend: "portproxy", ExposeAddress: "0.0.0.0", Os: "windows",
		ListenAddresses: []string{"127.0.0.1:17810"}, Problems: m.problems}, nil
}
func (m *fakeMachine) ListAgents(context.Context, *wslfwdv1.ListAgentsRequest, ...grpc.CallOption) (*wslfwdv1.ListAgentsResponse, error) {
	return &wslfwdv1.ListAgentsResponse{Agents: m.agents}, nil
}
func (m *fakeMachine) ListForwards(context.Context, *wslfwdv1.ListForwardsRequest, ...grpc.CallOption) (*wslfwdv1.ListForwardsResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listings++
	st, reason := wslfwdv1.ForwardState_FORWARD_STATE_PENDING, "being added"
	if m.listings > m.forwardAfter {
		st, reason = m.forwardState, "port 41234 is held by another process"
	}
	if !m.listenerUp {
		return &wslfwdv1.ListForwardsResponse{}, nil
	}
	return &wslfwdv1.ListForwardsResponse{Forwards: []*wslfwdv1.Forward{{
		Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenAddress: "0.0.0.0", ListenPort: 41234,
		ConnectAddress: "172.28.240.53", ConnectPort: 41234, Distro: "Ubuntu", Backend: "portproxy", State: st, Reason: reason,
	}}}, nil
}
func (m *fakeMachine) Probe(context.Context, *wslfwdv1.ProbeRequest, ...grpc.CallOption) (*wslfwdv1.ProbeResponse, error) {
	return &wslfwdv1.ProbeResponse{Distro: "Ubuntu", Ok: true, Paths: []*wslfwdv1.PathResult{
		{Name: "wsl-to-host", From: "wsl (Ubuntu)", To: "172.28.240.1:17810", Ok: true},
		{Name: "host-to-wsl", From: "host (daemon)", To: "172.28.240.53:40001", Ok: true},
		{Name: "lan-to-wsl", From: "host, to its own LAN address", To: "192.168.1.20:40001", Ok: true},
	}}, nil
}

// healthyMachine is a fresh box: nothing installed, Ubuntu running with
// its agent, the firewall on.
func healthyMachine() *fakeMachine {
	return &fakeMachine{
		elevated: true, firewallOn: true,
		running2:     wsl.DistroList{Names: []string{"docker-desktop", "Ubuntu"}},
		agents:       []*wslfwdv1.Agent{{Distro: "Ubuntu", Connected: true, AgentVersion: "1.2.3", NetworkingMode: wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT}},
		forwardState: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, forwardAfter: 2, ruleAfter: 1,
	}
}

var testOptions = selftestOptions{port: 41234, install: true, wait: 2 * time.Second, poll: time.Millisecond}

func report(t *testing.T, m *fakeMachine, o selftestOptions) (string, int) {
	t.Helper()
	r := runSelftest(t.Context(), m, o)
	var b strings.Builder
	r.write(&b)
	return b.String(), r.exitCode()
}

func TestSelftestHealthyBox(t *testing.T) {
	m := healthyMachine()
	o := testOptions
	o.uninstall = true
	out, code := report(t, m, o)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	want := []string{
		"wslfwd selftest report (paste all of it into a bug report)",
		"  wslfwd-hostd:    1.2.3 (windows/amd64)",
		"  daemon:          1.2.3, backend portproxy, expose 0.0.0.0, windows",
		"  distro:          Ubuntu, agent 1.2.3, mode nat",
		"PASS  elevated\n",
		"PASS  service: installed now\n",
		"PASS  service running: started now\n",
		"PASS  daemon answers: listening on 127.0.0.1:17810\n",
		"PASS  daemon problems: none\n",
		"PASS  distro: Ubuntu runs, its agent is connected\n",
		"PASS  test listener: TCP port 41234 in Ubuntu\n",
		"PASS  forward: active 0.0.0.0:41234 -> 172.28.240.53:41234 (portproxy)\n",
		"PASS  connect at the LAN address: 192.168.1.20:41234 from this host (the host path only",
		"wslfwd probe --from-lan 192.168.1.20 --port <a forwarded port>",
		`PASS  firewall rule: "wslfwd tcp/41234" exists`,
		"PASS  probe lan-to-wsl: host, to its own LAN address -> 192.168.1.20:40001 (on this host: not a LAN client's path)",
		"PASS  uninstall",
		"Result: PASS 14, FAIL 0, SKIP 0\n",
	}
	last := 0
	for _, w := range want {
		i := strings.Index(out[last:], w)
		if i < 0 {
			t.Fatalf("report lacks %q (in order):\n%s", w, out)
		}
		last += i
	}
	if !m.connected || !m.stopped || !m.uninstalled {
		t.Errorf("connected %v, listener stopped %v, uninstalled %v", m.connected, m.stopped, m.uninstalled)
	}
}

// Under Wine, or before any distro runs: the report, and a code of its own.
func TestSelftestNoDistro(t *testing.T) {
	m := healthyMachine()
	m.installed, m.running = true, true
	m.running2 = wsl.DistroList{Said: "There are no running distributions."}
	o := testOptions
	o.install = false
	out, code := report(t, m, o)
	if code != exitNoTarget {
		t.Fatalf("exit %d, want %d:\n%s", code, exitNoTarget, out)
	}
	for _, w := range []string{"PASS  service: installed\n", "PASS  service running\n",
		"SKIP  distro: none running (wsl.exe said: There are no running distributions.)",
		"Result: PASS 5, FAIL 0, SKIP 1; nothing to forward was found (exit code 3)"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if len(m.did) != 0 {
		t.Errorf("did %q on a box with nothing to test", m.did)
	}

	m.running2 = wsl.DistroList{Names: []string{"Debian"}}
	out, code = report(t, m, o)
	if code != exitNoTarget || !strings.Contains(out, "no running distro has a connected agent (running: Debian)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestSelftestFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(m *fakeMachine, o *selftestOptions)
		want  []string
	}{
		{"not elevated", func(m *fakeMachine, _ *selftestOptions) { m.elevated = false },
			[]string{"FAIL  elevated: no: run selftest from an elevated prompt", "Result: PASS 0, FAIL 1"}},
		{"not installed, --no-install", func(_ *fakeMachine, o *selftestOptions) { o.install = false },
			[]string{"FAIL  service: not installed (and --no-install given): run wslfwd-hostd install"}},
		{"forward blocked", func(m *fakeMachine, _ *selftestOptions) {
			m.forwardState = wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT
		},
			[]string{"FAIL  forward: the test listener on port 41234 was not forwarded within 50ms (conflict: port 41234 is held by another process); the test listener said: Serving HTTP on 0.0.0.0 port 41234"}},
		{"no rule", func(m *fakeMachine, _ *selftestOptions) { m.ruleAfter = -1 },
			[]string{`FAIL  firewall rule: "wslfwd tcp/41234" not made within 50ms`, "PASS  probe wsl-to-host"}},
		{"firewall off", func(m *fakeMachine, _ *selftestOptions) { m.firewallOn = false },
			[]string{"SKIP  firewall rule: firewall = false"}},
		{"daemon problem", func(m *fakeMachine, _ *selftestOptions) {
			m.problems = []*wslfwdv1.Problem{{Code: "iphlpsvc-stopped", Message: "IP Helper is stopped\nand not Automatic", Hint: "start it"}}
		}, []string{"FAIL  daemon problem iphlpsvc-stopped: IP Helper is stopped; and not Automatic (start it)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := healthyMachine()
			o := testOptions
			o.wait = 50 * time.Millisecond
			tc.setup(m, &o)
			out, code := report(t, m, o)
			wantCode := 1
			if tc.name == "firewall off" {
				wantCode = 0
			}
			if code != wantCode {
				t.Errorf("exit %d, want %d", code, wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			if m.listenerUp {
				t.Error("the test listener was left running")
			}
		})
	}
}
