//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/lab/labrun"
)

// agentStatus runs `wslfwd-agent status -o json` in wsl for Ubuntu's agent.
func agentStatus(ctx context.Context, t *testing.T, env *labrun.Env) localstatus.Document {
	t.Helper()
	out, err := env.AgentStatus(ctx, "Ubuntu", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc localstatus.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return doc
}

func listenerOn(doc localstatus.Document, port uint32) *localstatus.Listener {
	for i, l := range doc.Listeners {
		if l.Protocol == "tcp" && l.Port == port {
			return &doc.Listeners[i]
		}
	}
	return nil
}

// Inside the distro, with no token beyond the agent's, `wslfwd-agent
// status` shows each listener and what the daemon made of it: a service
// forwarded as asked is ACTIVE, one on a denied port (445, in the
// default deny list) BLOCKED with the daemon's reason. The daemon listing
// them is enough: the status request waits for the daemon to act on
// everything sent, so no poll is needed. With the daemon gone, the status
// says not connected rather than what was true before.
func TestAgentStatusShowsVerdicts(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{})
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9011")
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:445")
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9011, State: active}); err != nil {
		t.Fatal(err)
	}
	denied, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 445, State: blocked})
	if err != nil {
		t.Fatal(err)
	}

	doc := agentStatus(ctx, t, env)
	if doc.Distro != "Ubuntu" || doc.NetworkingMode != "nat" || !doc.Daemon.Connected || doc.Daemon.Since.IsZero() ||
		doc.Daemon.Address != labrun.DaemonWSL.String() {
		t.Errorf("status header %+v: want Ubuntu, nat, connected to %s", doc, labrun.DaemonWSL)
	}
	if l := listenerOn(doc, 9011); l == nil || l.State != "ACTIVE" || !l.AsAsked || l.PID != uint32(os.Getpid()) {
		t.Errorf("port 9011: %+v; want ACTIVE as asked, pid %d (this test)", l, os.Getpid())
	}
	if l := listenerOn(doc, 445); l == nil || l.State != "BLOCKED" || l.Reason != denied.GetReason() || l.Reason == "" {
		t.Errorf("port 445: %+v; want BLOCKED with the daemon's reason %q", l, denied.GetReason())
	}
	table, err := env.AgentStatus(ctx, "Ubuntu")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "PROTO  LISTEN") || !strings.Contains(table, "on its own port, as asked") || !strings.Contains(table, denied.GetReason()) {
		t.Errorf("status table:\n%s", table)
	}

	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	if err := env.Wait(ctx, "the agent to say it is not connected", func(ctx context.Context) (bool, error) {
		return !agentStatus(ctx, t, env).Daemon.Connected, nil
	}); err != nil {
		t.Fatal(err)
	}
	doc = agentStatus(ctx, t, env)
	if l := listenerOn(doc, 445); l == nil || l.State != localstatus.StateNotConnected || doc.Daemon.LastError == "" {
		t.Errorf("daemon stopped: port 445 %+v, last error %q; want NOT_CONNECTED and why", l, doc.Daemon.LastError)
	}
}

// With more listeners than the daemon accepts from one agent
// (max_listeners_per_agent), the agent keeps reporting those it reported
// and says how many it left out, where it used to send them all and have
// the daemon refuse the lot: the forwards already there stay, the new
// listener is not forwarded, `wslfwd forwards` and `wslfwd-agent status`
// say why, and once a reported listener closes the one left out takes its
// place.
func TestListenersOverTheDaemonsLimit(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "wslfwd.toml")
	if err := os.WriteFile(cfg, []byte("max_listeners_per_agent = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, env := startWithAgent(t, labrun.Options{DaemonArgs: []string{"--config", cfg}})
	first := tcpEcho(t, env.Lab.WSL, "0.0.0.0:9021")
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9022")
	for _, port := range []uint32{9021, 9022} {
		if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: port, State: active}); err != nil {
			t.Fatal(err)
		}
	}
	// Reported already, those two stay whatever the new socket's inode.
	tcpEcho(t, env.Lab.WSL, "0.0.0.0:9023")

	// The status request waits for the daemon to act on all that was sent.
	doc := agentStatus(ctx, t, env)
	if l := listenerOn(doc, 9023); l == nil || l.State != localstatus.StateUnreported || l.Reason != localstatus.ReasonUnreported(2) {
		t.Errorf("port 9023: %+v; want UNREPORTED: %s", l, localstatus.ReasonUnreported(2))
	}
	fwds, err := env.Forwards(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fwds {
		if f.GetListenPort() == 9023 {
			t.Errorf("the daemon lists port 9023, which the agent left out: %v", f)
		}
	}
	out, err := env.CLI(ctx, "forwards")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Ubuntu: 1 listener not reported, so not forwarded") {
		t.Errorf("wslfwd forwards does not say a listener was left out:\n%s", out)
	}

	first.Close()
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9023, State: active}); err != nil {
		t.Fatal(err)
	}
	if out, err := env.CLI(ctx, "forwards"); err != nil || strings.Contains(out, "not reported") {
		t.Errorf("wslfwd forwards (%v) still says listeners are left out:\n%s", err, out)
	}
}
