package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/waitfor"
)

// FakeAuditor is a firewall whose inbound rules allow the ports in
// allowed; its listing fails while failing is set. It is exported for the
// package's external tests.
type FakeAuditor struct {
	mu      sync.Mutex
	allowed map[uint16]bool
	failing bool
	asked   [][]firewall.Rule
}

func (f *FakeAuditor) Blocked(_ context.Context, wanted []firewall.Rule) ([]firewall.Rule, error) {
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

// Asked is every set of rules audited so far.
func (f *FakeAuditor) Asked() [][]firewall.Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// Set changes the ports allowed and whether the listing fails.
func (f *FakeAuditor) Set(allowed map[uint16]bool, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed, f.failing = allowed, failing
}

func TestFirewallAuditProblemWording(t *testing.T) {
	s := newFirewallAudit(&FakeAuditor{}, slog.New(slog.DiscardHandler))
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
	fw := &FakeAuditor{}
	s := newFirewallAudit(fw, slog.New(slog.DiscardHandler))
	s.fresh = time.Hour
	go s.run(t.Context())
	s.set([]firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 8080}})
	waitfor.Cond(t, 10*time.Second, "the first audit to name the port", func() bool { return s.problem() != nil })

	fw.Set(map[uint16]bool{8080: true}, false)
	s.refresh(t.Context())
	audits := len(fw.Asked())
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
