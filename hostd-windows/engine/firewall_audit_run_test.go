package engine_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/daemon/daemontest"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// statusProblem is GetStatus's problem of code, or nil.
func statusProblem(t *testing.T, h *daemontest.Daemon, code string) *wslfwdv1.Problem {
	t.Helper()
	st, err := h.Control.GetStatus(daemontest.Ctx(t), &wslfwdv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.GetProblems() {
		if p.GetCode() == code {
			return p
		}
	}
	return nil
}

// With firewall = false the daemon names in GetStatus the forwarded ports
// no inbound rule allows, which doctor shows; a failed listing is said,
// never read as "all allowed".
func TestFirewallAuditNamesBlockedPorts(t *testing.T) {
	fw := &engine.FakeAuditor{}
	fw.Set(map[uint16]bool{3000: true}, false)
	h := daemontest.Start(t, daemontest.Options{Backend: daemontest.NewBackend(), Audit: fw})
	a := h.Connect(t, "Ubuntu")
	a.Snapshot(daemontest.TCPListener("0.0.0.0", 8080), daemontest.TCPListener("0.0.0.0", 3000), daemontest.TCPListener("127.0.0.1", 9090))

	var p *wslfwdv1.Problem
	waitfor.Cond(t, 10*time.Second, "the blocked port to show in GetStatus", func() bool {
		p = statusProblem(t, h, "firewall-blocks-forwards")
		return p != nil
	})
	if !strings.Contains(p.GetMessage(), "allows tcp/8080: LAN clients cannot reach it") || strings.Contains(p.GetMessage(), "3000") {
		t.Errorf("message %q: want tcp/8080 named, and only it", p.GetMessage())
	}
	if !strings.Contains(p.GetHint(), "firewall = true") || !strings.Contains(p.GetHint(), "localport=8080 profile=private,domain") {
		t.Errorf("hint %q: want both fixes", p.GetHint())
	}

	// The listing fails: said as such.
	fw.Set(map[uint16]bool{3000: true}, true)
	a.Changes(nil, []*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 3000)})
	waitfor.Cond(t, 10*time.Second, "the failed audit to show", func() bool { return statusProblem(t, h, "firewall-audit-failed") != nil })
	if statusProblem(t, h, "firewall-blocks-forwards") != nil {
		t.Error("a stale verdict is shown beside the failed audit")
	}

	// The user allows the port: the next audit clears the problem.
	fw.Set(map[uint16]bool{8080: true, 3000: true}, false)
	a.Changes([]*wslfwdv1.Listener{daemontest.TCPListener("0.0.0.0", 3000)}, nil)
	waitfor.Cond(t, 10*time.Second, "the problems to clear", func() bool {
		return statusProblem(t, h, "firewall-blocks-forwards") == nil && statusProblem(t, h, "firewall-audit-failed") == nil
	})
	for _, asked := range fw.Asked() {
		if slices.ContainsFunc(asked, func(r firewall.Rule) bool { return r.Port == 9090 }) {
			t.Errorf("audited %v: a loopback-only listener is not forwarded", asked)
		}
	}
}
