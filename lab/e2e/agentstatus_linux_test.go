//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"os"
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
