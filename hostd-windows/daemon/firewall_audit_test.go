package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
)

// fakeAuditor is a firewall whose inbound rules allow the ports in
// allowed; its listing fails while failing is set.
type fakeAuditor struct {
	mu      sync.Mutex
	allowed map[uint16]bool
	failing bool
	asked   [][]firewall.Rule
}

func (f *fakeAuditor) Blocked(_ context.Context, wanted []firewall.Rule) ([]firewall.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, slices.Clone(wanted))
	if f.failing {
		return nil, errors.New("list the windows firewall's inbound rules: the listing failed: Access is denied.")
	}
	var out []firewall.Rule
	for _, r := range wanted {
		if !f.allowed[r.Port] {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeAuditor) set(allowed map[uint16]bool, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed, f.failing = allowed, failing
}

// statusProblem is GetStatus's problem of code, or nil.
func statusProblem(t *testing.T, h *harness, code string) *wslfwdv1.Problem {
	t.Helper()
	st, err := h.control.GetStatus(testCtx(t), &wslfwdv1.GetStatusRequest{})
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
	fw := &fakeAuditor{allowed: map[uint16]bool{3000: true}}
	h := startHarness(t, harnessOptions{backend: newFakeBackend(), audit: fw})
	a := h.connect(t, "Ubuntu")
	a.snapshot(tcpListener("0.0.0.0", 8080), tcpListener("0.0.0.0", 3000), tcpListener("127.0.0.1", 9090))

	var p *wslfwdv1.Problem
	waitFor(t, "the blocked port to show in GetStatus", func() bool {
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
	fw.set(map[uint16]bool{3000: true}, true)
	a.changes(nil, []*wslfwdv1.Listener{tcpListener("0.0.0.0", 3000)})
	waitFor(t, "the failed audit to show", func() bool { return statusProblem(t, h, "firewall-audit-failed") != nil })
	if statusProblem(t, h, "firewall-blocks-forwards") != nil {
		t.Error("a stale verdict is shown beside the failed audit")
	}

	// The user allows the port: the next audit clears the problem.
	fw.set(map[uint16]bool{8080: true, 3000: true}, false)
	a.changes([]*wslfwdv1.Listener{tcpListener("0.0.0.0", 3000)}, nil)
	waitFor(t, "the problems to clear", func() bool {
		return statusProblem(t, h, "firewall-blocks-forwards") == nil && statusProblem(t, h, "firewall-audit-failed") == nil
	})
	fw.mu.Lock()
	defer fw.mu.Unlock()
	for _, asked := range fw.asked {
		if slices.ContainsFunc(asked, func(r firewall.Rule) bool { return r.Port == 9090 }) {
			t.Errorf("audited %v: a loopback-only listener is not forwarded", asked)
		}
	}
}

func TestFirewallAuditProblemWording(t *testing.T) {
	s := newFirewallAudit(&fakeAuditor{}, nil)
	s.blocked = []firewall.Rule{
		{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80},
		{Kind: firewall.HyperV, Protocol: backend.UDP, Port: 53},
	}
	p := s.problem()
	if want := "allows tcp/80, udp/53 (Hyper-V firewall): LAN clients cannot reach them"; !strings.Contains(p.GetMessage(), want) {
		t.Errorf("message %q lacks %q", p.GetMessage(), want)
	}
}

// A user who adds the allow rule doctor's hint gives and asks again sees
// the new verdict at once, not the one of up to auditEvery ago; within
// fresh of the last audit, asking starts no new one.
func TestFirewallAuditRefreshSeesRulesNow(t *testing.T) {
	fw := &fakeAuditor{}
	s := newFirewallAudit(fw, slog.New(slog.DiscardHandler))
	s.fresh = time.Hour
	go s.run(t.Context())
	s.set([]firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}})
	waitFor(t, "the first audit to name the port", func() bool { return s.problem() != nil })

	fw.set(map[uint16]bool{8080: true}, false)
	s.refresh(t.Context())
	fw.mu.Lock()
	audits := len(fw.asked)
	fw.mu.Unlock()
	if s.problem() == nil || audits != 1 {
		t.Fatalf("within fresh: problem %v after %d audits, want the old verdict and no new audit", s.problem(), audits)
	}
	s.mu.Lock()
	s.fresh = 0
	s.mu.Unlock()
	s.refresh(t.Context())
	if p := s.problem(); p != nil {
		t.Fatalf("after the user allowed the port: %v", p)
	}
}
