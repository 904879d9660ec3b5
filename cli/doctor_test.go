package main

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

// wslEnv is an Env inside the distro "Ubuntu" whose wslinfo prints mode
// and whose default gateway is gw ("" for none).
func wslEnv(mode, gw string) controlclient.Env {
	env := plainLinux()
	env.Getenv = func(k string) string {
		if k == "WSL_DISTRO_NAME" {
			return "Ubuntu"
		}
		return ""
	}
	env.ReadFile = func(string) ([]byte, error) { return []byte("5.15.153.1-microsoft-standard-WSL2\n"), nil }
	env.Wslinfo = func(...string) (string, error) { return mode + "\n", nil }
	env.Gateway4 = func() (netip.Addr, error) {
		if gw == "" {
			return netip.Addr{}, errors.New("no IPv4 default route")
		}
		return netip.MustParseAddr(gw), nil
	}
	return env
}

// doctorJSON runs doctor -o json and decodes the report.
func doctorJSON(t *testing.T, env controlclient.Env, args ...string) (output.DoctorReport, result) {
	t.Helper()
	r := runCLI(t, t.Context(), env, append(args, "doctor", "-o", "json")...)
	var rep output.DoctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor -o json is not one JSON document: %v\n%s", err, r.stdout)
	}
	return rep, r
}

// verdicts maps check names to verdicts.
func verdicts(rep output.DoctorReport) map[string]output.Verdict {
	m := map[string]output.Verdict{}
	for _, c := range rep.Checks {
		m[c.Name] = c.Verdict
	}
	return m
}

func wantVerdicts(t *testing.T, rep output.DoctorReport, want map[string]output.Verdict) {
	t.Helper()
	got := verdicts(rep)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("check %q = %q, want %q (all: %v)", name, got[name], v, rep.Checks)
		}
	}
}

func healthyFake() *fakeControl {
	return &fakeControl{status: sampleStatus(), agents: sampleAgents(), forwards: sampleForwards()}
}

func TestDoctorHealthy(t *testing.T) {
	d := startFake(t, healthyFake())
	rep, r := doctorJSON(t, plainLinux(), d.args()...)
	if r.code != 0 || !rep.OK {
		t.Fatalf("exit %d, ok %v: %v; stderr %s", r.code, rep.OK, rep.Checks, r.stderr)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{
		"daemon address": output.Pass, "token": output.Pass, "daemon reachable": output.Pass,
		"token accepted": output.Pass, "daemon problems": output.Pass, "agents connected": output.Pass,
		"forwards healthy": output.Pass,
	})
	for _, c := range rep.Checks {
		if c.Verdict != output.Pass {
			t.Errorf("healthy setup has %v", c)
		}
	}

	r = runCLI(t, t.Context(), plainLinux(), d.args("doctor")...)
	mustContain(t, "doctor table", r.stdout, "PASS  daemon reachable: wslfwd-hostd 1.2.3 at "+d.addr, "PASS  agents connected: Ubuntu")
}

func TestDoctorReportsProblems(t *testing.T) {
	fake := healthyFake()
	fake.status.Problems = []*wslfwdv1.Problem{{Code: "not-elevated", Message: "not running as administrator", Hint: "run elevated"}}
	fake.agents = &wslfwdv1.ListAgentsResponse{}
	fake.forwards = &wslfwdv1.ListForwardsResponse{Forwards: []*wslfwdv1.Forward{
		{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenAddress: "0.0.0.0", ListenPort: 80, State: wslfwdv1.ForwardState_FORWARD_STATE_ERROR, Reason: "netsh failed"},
		{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, ListenAddress: "0.0.0.0", ListenPort: 81, State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT, Reason: "held"},
	}}
	d := startFake(t, fake)
	rep, r := doctorJSON(t, plainLinux(), d.args()...)
	if r.code != exitFailure || rep.OK {
		t.Errorf("exit %d, ok %v; want failure", r.code, rep.OK)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{
		"daemon problem not-elevated": output.Fail, "agents connected": output.Fail, "forwards healthy": output.Fail,
	})
	mustContain(t, "stderr", r.stderr, "doctor: 3 checks failed")
	for _, c := range rep.Checks {
		if c.Verdict == output.Fail && c.Hint == "" {
			t.Errorf("failed check without a fix: %v", c)
		}
		if c.Name == "forwards healthy" && !strings.Contains(c.Detail, "tcp 0.0.0.0:80 -> -: netsh failed") {
			t.Errorf("forwards check does not name the broken forward: %q", c.Detail)
		}
	}

	// Conflicts alone are a warning, which does not fail doctor.
	fake.status.Problems = nil
	fake.agents = sampleAgents()
	fake.forwards.Forwards = fake.forwards.Forwards[1:]
	rep, r = doctorJSON(t, plainLinux(), d.args()...)
	if r.code != 0 || !rep.OK {
		t.Errorf("conflict only: exit %d, ok %v", r.code, rep.OK)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"forwards healthy": output.Warn})

	// So are listeners an agent left out, over the daemon's limit.
	fake.forwards = sampleForwards()
	fake.forwards.Unreported = []*wslfwdv1.UnreportedListeners{{Distro: "Ubuntu", Count: 12, Max: 4096}}
	rep, r = doctorJSON(t, plainLinux(), d.args()...)
	if r.code != 0 || !rep.OK {
		t.Errorf("unreported only: exit %d, ok %v", r.code, rep.OK)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"forwards healthy": output.Warn})
	for _, c := range rep.Checks {
		if c.Name == "forwards healthy" && (!strings.Contains(c.Detail, "Ubuntu says it leaves 12 out (limit 4096)") || !strings.Contains(c.Hint, "max_listeners_per_agent")) {
			t.Errorf("forwards check does not name the distro over the limit and the fix: %v", c)
		}
	}
}

// With firewall = false the daemon names the forwarded ports no inbound
// rule allows; doctor shows them as the LAN firewall check, with the fix.
func TestDoctorNamesPortsTheFirewallBlocks(t *testing.T) {
	fake := healthyFake()
	fake.status.Problems = []*wslfwdv1.Problem{{Code: "firewall-blocks-forwards",
		Message: "firewall = false, and no inbound firewall rule in force allows tcp/8080, tcp/3000: LAN clients cannot reach them",
		Hint:    "set firewall = true (the daemon then allows forwarded ports in the Private and Domain profiles), or allow each port yourself"}}
	d := startFake(t, fake)
	rep, r := doctorJSON(t, plainLinux(), d.args()...)
	if r.code != exitFailure || rep.OK {
		t.Errorf("exit %d, ok %v; want failure", r.code, rep.OK)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"LAN firewall": output.Fail, "forwards healthy": output.Pass})
	r = runCLI(t, t.Context(), plainLinux(), d.args("doctor")...)
	mustContain(t, "doctor table", r.stdout, "FAIL  LAN firewall: firewall = false, and no inbound firewall rule in force allows tcp/8080, tcp/3000", "set firewall = true")

	// A listing that failed is a warning: nothing is known to be blocked.
	fake.status.Problems = []*wslfwdv1.Problem{{Code: "firewall-audit-failed", Message: "could not be checked", Hint: "check by hand"}}
	rep, r = doctorJSON(t, plainLinux(), d.args()...)
	if r.code != 0 {
		t.Errorf("audit failed only: exit %d", r.code)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"LAN firewall": output.Warn})

	// Rules made that Group Policy keeps from taking effect block the LAN
	// as surely as rules never made.
	fake.status.Problems = []*wslfwdv1.Problem{{Code: "firewall-local-rules-ignored", Message: "Group Policy keeps local firewall rules from taking effect", Hint: "ask"}}
	rep, r = doctorJSON(t, plainLinux(), d.args()...)
	if r.code != exitFailure {
		t.Errorf("local rules ignored: exit %d", r.code)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"LAN firewall": output.Fail})
}

func TestDoctorUnreachableAndRefused(t *testing.T) {
	d := startFake(t, healthyFake())
	rep, r := doctorJSON(t, plainLinux(), "--host", closedPort(t), "--token-file", d.tokenFile)
	if r.code != exitFailure {
		t.Errorf("unreachable: exit %d", r.code)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{
		"daemon address": output.Pass, "token": output.Pass, "daemon reachable": output.Fail,
		"token accepted": output.Skip, "agents connected": output.Skip, "forwards healthy": output.Skip,
	})

	rep, r = doctorJSON(t, plainLinux(), "--host", d.addr)
	if r.code != exitFailure {
		t.Errorf("no token: exit %d", r.code)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"token": output.Fail, "daemon reachable": output.Skip})

	wrong := writeOtherToken(t)
	rep, _ = doctorJSON(t, plainLinux(), "--host", d.addr, "--token-file", wrong)
	wantVerdicts(t, rep, map[string]output.Verdict{"daemon reachable": output.Pass, "token accepted": output.Fail, "agents connected": output.Skip})
}

func TestDoctorInsideWSL(t *testing.T) {
	d := startFake(t, healthyFake())

	rep, r := doctorJSON(t, wslEnv("nat", "172.28.240.1"), d.args()...)
	if r.code != 0 {
		t.Errorf("healthy nat distro: exit %d, %v", r.code, rep.Checks)
	}
	wantVerdicts(t, rep, map[string]output.Verdict{"networking mode": output.Pass, "default gateway": output.Pass, "agents connected": output.Pass})

	// Without --host and without a gateway there is no daemon address.
	rep, _ = doctorJSON(t, wslEnv("nat", ""))
	wantVerdicts(t, rep, map[string]output.Verdict{"default gateway": output.Fail, "daemon address": output.Fail, "token": output.Skip})

	rep, _ = doctorJSON(t, wslEnv("bridged", ""), d.args()...)
	wantVerdicts(t, rep, map[string]output.Verdict{"networking mode": output.Fail})
	if _, ok := verdicts(rep)["default gateway"]; ok {
		t.Error("gateway checked outside NAT mode")
	}

	// This distro's agent missing, another one connected.
	fake := healthyFake()
	fake.agents.Agents[0].Distro = "Debian"
	d = startFake(t, fake)
	rep, _ = doctorJSON(t, wslEnv("mirrored", ""), d.args()...)
	wantVerdicts(t, rep, map[string]output.Verdict{"agents connected": output.Fail})
	for _, c := range rep.Checks {
		if c.Name == "agents connected" && !strings.Contains(c.Detail, "no agent for this distro (Ubuntu); connected: Debian") {
			t.Errorf("agents check: %q", c.Detail)
		}
	}
}

// A single failure reads "1 check failed", not "1 checks failed".
func TestCountOf(t *testing.T) {
	for n, want := range map[int]string{0: "0 checks", 1: "1 check", 3: "3 checks"} {
		if got := countOf(n, "check"); got != want {
			t.Errorf("countOf(%d) = %q, want %q", n, got, want)
		}
	}
}
