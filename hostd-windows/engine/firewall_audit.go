package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
)

// firewallKeeper follows the inbound rules the forwards need: firewallSync
// makes them (firewall = true), firewallAudit checks that rules of the
// user's allow them (firewall = false). The engine calls set after every
// run; GetStatus calls refresh, then reports problem.
type firewallKeeper interface {
	set(rules []firewall.Rule)
	run(ctx context.Context)
	refresh(ctx context.Context)
	problem() *wslfwdv1.Problem
}

// FirewallAuditor tells which of the rules the forwards need no inbound
// firewall rule stands in for; *firewall.Firewall is one.
type FirewallAuditor interface {
	Blocked(ctx context.Context, wanted []firewall.Rule) ([]firewall.Rule, error)
}

// auditEvery is how often the ports are audited again while forwards
// exist: the user may add or remove rules at any time, and one listing
// costs a PowerShell start, so not more often.
const auditEvery = time.Minute

// A user who has just added the allow rule that doctor's hint gives, and
// runs doctor again, must see the verdict on the rules as they are now,
// not on those of up to auditEvery ago: GetStatus waits for a new audit
// when the last one started more than auditFresh ago (so callers cannot
// start PowerShell more often than that), for refreshWait at the most
// (a hung PowerShell must not hang GetStatus).
const (
	auditFresh  = 2 * time.Second
	refreshWait = 10 * time.Second
)

// firewallAudit audits the wanted rules off the engine's goroutine, at
// once when they change and every auditEvery while there are any.
type firewallAudit struct {
	a     FirewallAuditor
	log   *slog.Logger
	kick  chan struct{}
	every time.Duration
	fresh time.Duration // auditFresh, shorter in tests

	mu      sync.Mutex
	want    []firewall.Rule
	audited []firewall.Rule // the set the last audit judged
	blocked []firewall.Rule // of it, those no rule allows
	err     error
	started time.Time     // when the last audit started
	next    chan struct{} // closed when the next audit to start has ended
}

func newFirewallAudit(a FirewallAuditor, log *slog.Logger) *firewallAudit {
	return &firewallAudit{a: a, log: log, kick: make(chan struct{}, 1), every: auditEvery, fresh: auditFresh, next: make(chan struct{})}
}

// set records the rules wanted now and wakes the auditor when they differ
// from those last audited. It never blocks.
func (s *firewallAudit) set(rules []firewall.Rule) {
	s.mu.Lock()
	same := slices.Equal(rules, s.audited) && s.err == nil
	s.want = rules
	s.mu.Unlock()
	if !same {
		s.wake()
	}
}

// wake makes run audit soon; a wake already pending is enough.
func (s *firewallAudit) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// refresh waits until an audit that starts after the call has ended,
// unless the last one started within auditFresh or nothing is forwarded.
func (s *firewallAudit) refresh(ctx context.Context) {
	s.mu.Lock()
	if len(s.want) == 0 || time.Since(s.started) < s.fresh {
		s.mu.Unlock()
		return
	}
	done := s.next
	s.mu.Unlock()
	s.wake()
	wait := time.NewTimer(refreshWait)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
	case <-ctx.Done():
	}
}

// run audits until ctx ends.
func (s *firewallAudit) run(ctx context.Context) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-tick.C:
		}
		s.mu.Lock()
		want, done := s.want, s.next
		s.started, s.next = time.Now(), make(chan struct{})
		s.mu.Unlock()
		var blocked []firewall.Rule
		var err error
		if len(want) > 0 {
			blocked, err = s.a.Blocked(ctx, want)
		}
		if err != nil && ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.audited, s.blocked, s.err = want, blocked, err
		s.mu.Unlock()
		close(done)
		if err != nil {
			s.log.Warn("firewall audit failed", "err", err)
		}
	}
}

// problem names the forwarded ports no inbound rule allows, or says the
// audit failed; nil when every port is allowed (or none is forwarded).
func (s *firewallAudit) problem() *wslfwdv1.Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return &wslfwdv1.Problem{
			Code:    "firewall-audit-failed",
			Message: "firewall = false, and whether inbound firewall rules allow the forwarded ports could not be checked: " + s.err.Error(),
			Hint:    "check by hand in Windows Defender Firewall (wf.msc), or set firewall = true so the daemon makes the rules",
		}
	}
	if len(s.blocked) == 0 {
		return nil
	}
	names := make([]string, len(s.blocked))
	for i, r := range s.blocked {
		names[i] = fmt.Sprintf("%s/%d", r.Protocol, r.Port)
		if r.Kind == firewall.HyperV {
			names[i] += " (Hyper-V firewall)"
		}
	}
	first := s.blocked[0]
	return &wslfwdv1.Problem{
		Code: "firewall-blocks-forwards",
		Message: fmt.Sprintf("firewall = false, and no inbound firewall rule in force allows %s: LAN clients cannot reach %s",
			strings.Join(names, ", "), map[bool]string{true: "it", false: "them"}[len(names) == 1]),
		Hint: fmt.Sprintf("set firewall = true (the daemon then allows forwarded ports in the Private and Domain profiles), "+
			"or allow each port yourself, elevated: netsh advfirewall firewall add rule name=\"LAN %s/%d\" dir=in action=allow protocol=%s localport=%d profile=private,domain",
			first.Protocol, first.Port, strings.ToUpper(string(first.Protocol)), first.Port),
	}
}
