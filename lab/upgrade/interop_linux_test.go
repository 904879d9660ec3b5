//go:build linux

package upgrade

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/labtest"
)

const (
	tcp     = wslfwdv1.Protocol_PROTOCOL_TCP
	active  = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	blocked = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
)

// testTimeout bounds each test; every wait inside is a poll under it.
const testTimeout = 90 * time.Second

// side is one distro of a pairing: its agent's version and its services.
type side struct {
	distro  string
	agent   string // the agent program
	version string // what it reports
	port    uint16 // a service that is forwarded
	denied  uint16 // a service on a port of the default deny list
}

// An upgrade keeps the agents it has not reached yet working: an agent
// left on the previous version beside an upgraded one, on the new daemon
// (a service upgraded before its distros, as setup does it). Each agent's
// services are forwarded and credited to its distro, a denied port is
// BLOCKED, closing a service unforwards it, and the CLI shows both
// versions and warns of the one that differs from the daemon's.
func TestAdjacentVersions(t *testing.T) {
	prev, cur := previousPrograms(t), labtest.Bin()
	old := side{"Old", prev.Agent, previousVersion, 9101, 445}
	now := side{"New", cur.Agent, version.Version, 9102, 3389}
	ctx, env := labtest.Start(t, labrun.Options{Bin: cur}, testTimeout)
	checkPairing(ctx, t, env, version.Version, old, now)
}

// The other way round, a distro upgraded before the service, the new
// agent sends its token to no daemon that cannot prove it holds it, which
// the previous daemon cannot: it says so, and stays out of that daemon's
// list, while the previous agent beside it works on.
func TestNewAgentRefusesThePreviousDaemon(t *testing.T) {
	prev, cur := previousPrograms(t), labtest.Bin()
	bin := cur
	bin.Daemon, bin.CLI, bin.Plaintext = prev.Daemon, prev.CLI, prev.Plaintext
	ctx, env := labtest.Start(t, labrun.Options{Bin: bin}, testTimeout)
	newAgent, err := env.StartAgent(ctx, labrun.AgentOptions{Distro: "New", NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPairing(ctx, t, env, previousVersion, side{"Old", prev.Agent, previousVersion, 9101, 445})
	const refusal = "did not prove it holds the token from " // session.describe
	err = env.Wait(ctx, "the new agent to say why it does not connect", func(context.Context) (bool, error) {
		return strings.Contains(newAgent.Log(), refusal) && strings.Contains(newAgent.Log(), "answered without TLS"), nil
	})
	if err != nil {
		t.Fatalf("%v; its log:\n%s", err, newAgent.Tail(20))
	}
	var list wslfwdv1.ListAgentsResponse
	if err := env.CLIJSON(ctx, &list, "agents"); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.GetAgents() {
		if a.GetDistro() == "New" {
			t.Errorf("the previous daemon lists the new agent: %v", a)
		}
	}
}

// checkPairing runs the agents of sides against the lab's daemon, which
// reports daemonVersion, and checks what TestAdjacentVersions says.
func checkPairing(ctx context.Context, t *testing.T, env *labrun.Env, daemonVersion string, sides ...side) {
	services := map[uint16]func() error{}
	for _, s := range sides {
		d := startDistro(t, env, s.distro)
		d.startAgent(ctx, t, s.agent)
		services[s.port] = d.listen(t, s.port).Kill
		d.listen(t, s.denied)
	}
	for _, s := range sides {
		// The agent of the distro that runs a service sees its process
		// and takes it over from an agent that connected earlier, which
		// sees only the socket: wait for the forward credited to it.
		f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: uint32(s.port), State: active, Distro: s.distro})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.EchoFromLAN(ctx, "tcp", s.port); err != nil {
			t.Errorf("%s's service through %s: %v", s.distro, describe(f), err)
		}
		f, err = env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: uint32(s.denied), State: blocked, Distro: s.distro})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.GetReason(), "deny list") {
			t.Errorf("%s's service on a denied port: %s; want the deny list as the reason", s.distro, describe(f))
		}
		if err := env.RefusedFromLAN(ctx, s.denied); err != nil {
			t.Error(err)
		}
	}
	checkAgents(ctx, t, env, daemonVersion, sides)
	for _, s := range sides {
		if err := services[s.port](); err != nil {
			t.Fatal(err)
		}
		if err := env.WaitNoForward(ctx, labrun.Match{Protocol: tcp, Port: uint32(s.port)}); err != nil {
			t.Fatalf("%s's service closed: %v", s.distro, err)
		}
		if err := env.RefusedFromLAN(ctx, s.port); err != nil {
			t.Error(err)
		}
	}
}

// checkAgents checks that `wslfwd agents -o json` lists each side's agent
// connected with its version, and that `wslfwd status` warns of exactly
// the agents whose version is not the daemon's.
func checkAgents(ctx context.Context, t *testing.T, env *labrun.Env, daemonVersion string, sides []side) {
	t.Helper()
	var list wslfwdv1.ListAgentsResponse
	if err := env.CLIJSON(ctx, &list, "agents"); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range list.GetAgents() {
		if a.GetConnected() {
			got[a.GetDistro()] = a.GetAgentVersion()
		}
	}
	status, err := env.CLI(ctx, "status")
	if err != nil {
		t.Fatal(err)
	}
	warnings := 0
	for _, s := range sides {
		if got[s.distro] != s.version {
			t.Errorf("wslfwd agents: distro %s's agent connected with version %q, want %q: %v", s.distro, got[s.distro], s.version, list.GetAgents())
		}
		warn := "WARNING: the agent in " + s.distro + " is version " + s.version + ", the daemon " + daemonVersion
		if s.version != daemonVersion {
			warnings++
			if !strings.Contains(status, warn) {
				t.Errorf("wslfwd status does not warn %q:\n%s", warn, status)
			}
		}
	}
	if n := strings.Count(status, "WARNING: the agent in"); n != warnings {
		t.Errorf("wslfwd status warns of %d agents' versions, want %d:\n%s", n, warnings, status)
	}
}

// describe prints a forward for error messages.
func describe(f *wslfwdv1.Forward) string {
	return protojson.MarshalOptions{UseProtoNames: true}.Format(f)
}
