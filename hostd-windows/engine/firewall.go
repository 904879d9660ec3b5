package engine

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/wire"
)

// FirewallSyncer makes the daemon's firewall rules exactly the ones given
// and never touches others, and lists the daemon's rules that exist;
// *firewall.Firewall is one.
type FirewallSyncer interface {
	Sync(ctx context.Context, wanted []firewall.Rule) error
	Rules(ctx context.Context) ([]firewall.Rule, error)
}

// ruleOf is the inbound rule a row of the table needs, if any: for a
// forward whose entry exists a Windows Firewall rule on its host port (NAT
// mode, statics), and for a listener reachable directly a rule in the
// firewall that guards its distro's mode: Hyper-V's for mirrored mode,
// Windows' for WSL1. An entry that exists but does not work yet (ERROR
// while iphlpsvc starts, say) keeps its rule, so the rule does not flap
// with it.
func ruleOf(r *row, mode wslfwdv1.NetworkingMode) (firewall.Rule, bool) {
	f := r.fwd
	var kind firewall.Kind
	switch {
	case r.exists, f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE:
		kind = firewall.Windows
	case f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_DIRECT:
		if loopbackOnly(f) {
			// The LAN cannot reach it; a rule on its port would open
			// that port for every other program of the host.
			return firewall.Rule{}, false
		}
		switch mode {
		case wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED:
			kind = firewall.HyperV
		case wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
			kind = firewall.Windows
		default:
			return firewall.Rule{}, false
		}
	default:
		return firewall.Rule{}, false
	}
	proto, ok := wire.ProtocolFromProto(f.GetProtocol())
	if !ok {
		return firewall.Rule{}, false
	}
	rule := firewall.Rule{Kind: kind, Protocol: proto, Port: uint16(f.GetListenPort())}
	return rule, rule.Port != 0
}

// ruleCounts counts the rows that need each rule, so a step that changes
// a few rows updates the wanted rules without walking the table.
type ruleCounts map[firewall.Rule]int

// add counts r's rule, if any, and reports whether the rule is new.
func (c ruleCounts) add(r *row) bool {
	if !r.hasRule {
		return false
	}
	c[r.rule]++
	return c[r.rule] == 1
}

// remove uncounts r's rule, if any, and reports whether it is gone.
func (c ruleCounts) remove(r *row) bool {
	if !r.hasRule {
		return false
	}
	c[r.rule]--
	if c[r.rule] > 0 {
		return false
	}
	delete(c, r.rule)
	return true
}

// list is the rules, sorted.
func (c ruleCounts) list() []firewall.Rule {
	out := slices.Collect(maps.Keys(c))
	slices.SortFunc(out, firewall.Rule.Compare)
	return out
}

// loopbackOnly reports whether f's listener is bound to a loopback address.
func loopbackOnly(f *wslfwdv1.Forward) bool {
	a, err := netip.ParseAddr(f.GetListenerAddress())
	return err == nil && a.Unmap().IsLoopback()
}

// firewallSync applies the wanted rules off the engine's goroutine:
// netsh and PowerShell take hundreds of milliseconds, and forwards must not
// wait for them. Only the latest wanted set matters, so updates coalesce;
// a failed sync is retried with capped backoff and shown in GetStatus.
// While rules are wanted it syncs again every firewall.RecheckEvery even when nothing
// changed: a rule deleted, disabled or altered by hand since is noticed
// and remade (Sync judges every rule), which the wanted set, unchanged,
// would never trigger. Group Policy that keeps local rules from taking
// effect is shown, and not retried: only those checks find it gone.
//
// A restart is not a reinstall: the rules the daemon finds at its first
// sync are kept until holdUntil (the end of the restart's grace period),
// as the forwards they open are, so a listener whose agent has not yet
// reconnected (a mirrored-mode one has only its rule) loses nothing.
type firewallSync struct {
	fw        FirewallSyncer
	log       *slog.Logger
	kick      chan struct{}
	holdUntil time.Time
	kept      []firewall.Rule // found at start; nil until listed
	listed    bool
	every     time.Duration // firewall.RecheckEvery, shorter in tests

	mu      sync.Mutex
	wanted  bool // set was called: want is the engine's
	want    []firewall.Rule
	applied []firewall.Rule // last set synced without error
	synced  bool            // applied is meaningful
	err     error           // error of the last sync
	retry   bool            // err is one trying again may mend (firewall.Retryable)
}

func newFirewallSync(fw FirewallSyncer, log *slog.Logger, holdUntil time.Time) *firewallSync {
	return &firewallSync{fw: fw, log: log, kick: make(chan struct{}, 1), holdUntil: holdUntil, every: firewall.RecheckEvery}
}

// target is what a sync must leave: the wanted rules, and while the hold
// lasts the rules found at start. It lists them at its first call.
func (s *firewallSync) target(ctx context.Context, want []firewall.Rule) ([]firewall.Rule, error) {
	if !time.Now().Before(s.holdUntil) {
		return want, nil
	}
	if !s.listed {
		kept, err := s.fw.Rules(ctx)
		if err != nil {
			return nil, err
		}
		s.kept, s.listed = kept, true
	}
	out := slices.Clone(want)
	for _, r := range s.kept {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// set records the rules wanted now and wakes the syncer if they differ
// from what was last applied. It never blocks. A set during a sync
// compares with the set before it; run catches that case when the sync
// ends (see there).
func (s *firewallSync) set(rules []firewall.Rule) {
	s.mu.Lock()
	same := s.synced && !s.retry && slices.Equal(rules, s.applied)
	s.want, s.wanted = rules, true
	s.mu.Unlock()
	if !same {
		s.wake()
	}
}

// wake makes run sync soon; a wake already pending is enough.
func (s *firewallSync) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// refresh does nothing: the sync's state is of its own making, never
// stale.
func (s *firewallSync) refresh(context.Context) {}

// problem is the standing problem to report, or nil.
func (s *firewallSync) problem() *wslfwdv1.Problem {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err == nil:
		return nil
	case !s.retry:
		return &wslfwdv1.Problem{
			Code:    "firewall-local-rules-ignored",
			Message: "the firewall rules for the forwards are made but LAN clients cannot use them: " + s.err.Error(),
			Hint:    "ask whoever owns the domain's Group Policy to allow local firewall rules (\"Apply local firewall rules: Yes\"), or to allow the forwarded ports by policy",
		}
	}
	return &wslfwdv1.Problem{
		Code:    "firewall-sync-failed",
		Message: "firewall rules for the forwards could not be made as wanted: " + s.err.Error(),
		Hint:    "the daemon must run elevated (as the service does); it retries by itself, and remakes rules of its name that were disabled or changed",
	}
}

// run syncs until ctx ends, once more when the hold ends, and every
// s.every while rules are wanted.
func (s *firewallSync) run(ctx context.Context) {
	var retry <-chan time.Time
	var holdEnd <-chan time.Time
	if d := time.Until(s.holdUntil); d > 0 {
		holdEnd = time.After(d)
	}
	recheck := time.NewTicker(s.every)
	defer recheck.Stop()
	delay := time.Duration(0)
	for {
		ticked := false
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-retry:
		case <-holdEnd:
			holdEnd = nil
		case <-recheck.C:
			ticked = true
		}
		s.mu.Lock()
		want, set := s.want, s.wanted
		s.mu.Unlock()
		if !set || (ticked && len(want) == 0) {
			continue // nothing wanted yet (the engine has not run), or nothing to check
		}
		target, err := s.target(ctx, want)
		if err == nil {
			err = s.fw.Sync(ctx, target)
		}
		again := firewall.Retryable(err)
		s.mu.Lock()
		s.err, s.retry = err, again
		if !again {
			s.applied, s.synced = want, true
		}
		// Rules wanted while this sync ran were compared by set with the
		// set applied before it, and may equal that one (a listener that
		// opened and closed): sync again whenever the wish moved on.
		moved := !slices.Equal(s.want, want)
		s.mu.Unlock()
		if !again {
			retry, delay = nil, 0
			if moved {
				s.wake()
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		delay = min(max(2*delay, minRetry), maxRetry)
		s.log.Warn("firewall sync failed; retrying", "in", delay, "err", err)
		retry = time.After(delay)
	}
}
