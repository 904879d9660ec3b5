package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// maxOutput bounds how much of a tool's output a failure carries.
const maxOutput = 1024

// Shell runs firewall commands. Errors mean a program could not be run;
// exit codes and messages are no verdict: Sync reads the rules back.
type Shell interface {
	// Netsh runs a `netsh -f` script in one process.
	Netsh(ctx context.Context, script string) ([]byte, error)
	// PowerShell runs a script in one powershell.exe process.
	PowerShell(ctx context.Context, script string) ([]byte, error)
}

// Firewall keeps wslfwd's firewall rules in step with what is wanted.
type Firewall struct {
	shell    Shell
	log      *slog.Logger
	profiles []string // where port rules apply: netsh's profile words
	mu       sync.Mutex
}

// New returns a Firewall that runs its commands through shell, logs to log
// (nil means slog.Default()) and makes port rules that apply in the given
// profiles ("private", "domain", "public", as config validates them);
// none given: DefaultProfiles.
func New(shell Shell, log *slog.Logger, profiles ...string) *Firewall {
	if log == nil {
		log = slog.Default()
	}
	if len(profiles) == 0 {
		profiles = DefaultProfiles
	}
	return &Firewall{shell: shell, log: log, profiles: slices.Clone(profiles)}
}

// LocalRulesIgnored is the error of a Sync on a host whose Group Policy
// sets "Apply local firewall rules: No" (AllowLocalFirewallRules False)
// in profiles the port rules apply in: there the rules wslfwd makes exist
// and let nothing in. Trying again mends nothing; only the policy's
// owner can.
type LocalRulesIgnored struct {
	Profiles []string // as the firewall names them: "Domain", "Private", "Public"
}

func (e *LocalRulesIgnored) Error() string {
	return fmt.Sprintf("Group Policy keeps local firewall rules, wslfwd's among them, from taking effect in the %s profile(s) (AllowLocalFirewallRules False)",
		strings.Join(e.Profiles, ", "))
}

// Retryable reports whether err, of Sync, holds a failure that trying
// again may mend: any but LocalRulesIgnored.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return slices.ContainsFunc(joined.Unwrap(), Retryable)
	}
	var ignored *LocalRulesIgnored
	return !errors.As(err, &ignored)
}

// Sync makes wslfwd's rules exactly wanted: it adds the missing ones,
// remakes those that do not let in what they are made for (disabled,
// Block, another port, protocol or profiles: faults), removes its own
// rules that are no longer wanted, then reads the rules back and judges
// them again. Rules not named by wslfwd are never touched. The error names
// every rule that is not as wanted, and Group Policy that keeps the rules
// from taking effect (LocalRulesIgnored).
func (f *Firewall) Sync(ctx context.Context, wanted []Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	want := make(map[Rule]bool)
	for _, r := range wanted {
		if err := r.check(); err != nil {
			errs = append(errs, fmt.Errorf("rule %v: %w", r, err))
			continue
		}
		want[r] = true
	}
	for _, k := range []Kind{Windows, HyperV} {
		errs = append(errs, f.syncKind(ctx, k, want))
	}
	return errors.Join(errs...)
}

// Rules lists the rules of the daemon's that exist, in both firewalls,
// whether or not they are as wanted. A listing that fails is an error,
// never an empty list.
func (f *Firewall) Rules(ctx context.Context) ([]Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Rule
	for _, k := range []Kind{Windows, HyperV} {
		l, err := f.list(ctx, k)
		if err != nil {
			return nil, err
		}
		for r := range l.own(k) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, Rule.Compare)
	return out, nil
}

// plan is what a sync of one firewall does to its rules.
type plan struct {
	add    []Rule // wanted, and not there
	remake []Rule // wanted, and there but not as wanted
	remove []Rule // there, and not wanted
}

func (p plan) empty() bool { return len(p.add)+len(p.remake)+len(p.remove) == 0 }

// planFor compares what the listing shows with what is wanted.
func (f *Firewall) planFor(l listing, k Kind, want map[Rule]bool) plan {
	own := l.own(k)
	var p plan
	for r := range want {
		switch {
		case r.Kind != k:
		case own[r] == nil:
			p.add = append(p.add, r)
		case f.judge(own[r], r) != nil:
			p.remake = append(p.remake, r)
		}
	}
	for r := range own {
		if !want[r] {
			p.remove = append(p.remove, r)
		}
	}
	sortRules(p.add)
	sortRules(p.remake)
	sortRules(p.remove)
	return p
}

// judge says why the listed rules of r's name do not let in what r is
// made for; nil when every one does (one rule of the name set to Block
// would block the port whatever the others allow).
func (f *Firewall) judge(listed []listedRule, r Rule) error {
	var faults []string
	for _, lr := range listed {
		faults = append(faults, lr.faults(portShape(r, f.profiles))...)
	}
	if len(faults) == 0 {
		return nil
	}
	return errors.New(strings.Join(slices.Compact(slices.Sorted(slices.Values(faults))), ", "))
}

// verdict says what is wrong with r in the listing: a wanted rule that is
// missing or not as wanted, an unwanted one still there; nil when none.
func (f *Firewall) verdict(l listing, r Rule, wanted bool) error {
	listed := l.own(r.Kind)[r]
	switch {
	case wanted && listed == nil:
		return fmt.Errorf("%v: not found when read back", r)
	case wanted:
		if err := f.judge(listed, r); err != nil {
			return fmt.Errorf("%v: not as wanted when read back: %w", r, err)
		}
	case listed != nil:
		return fmt.Errorf("%v: still there when read back", r)
	}
	return nil
}

func (f *Firewall) syncKind(ctx context.Context, k Kind, want map[Rule]bool) error {
	// A listing that fails is an error even with no rules wanted: wslfwd's
	// stale rules may be there. A Windows without the Hyper-V firewall
	// lists none (listScript).
	l, err := f.list(ctx, k)
	if err != nil {
		return err
	}
	var errs []error
	if p := f.planFor(l, k, want); !p.empty() {
		errs = append(errs, f.make(ctx, k, p))
	}
	if k == Windows && wants(want, Windows) {
		errs = append(errs, f.localRulesOn(l))
	}
	return errors.Join(errs...)
}

// wants reports whether a rule of firewall k is wanted.
func wants(want map[Rule]bool, k Kind) bool {
	for r := range want {
		if r.Kind == k {
			return true
		}
	}
	return false
}

// localRulesOn is a LocalRulesIgnored for the profiles port rules apply
// in where the listing shows Group Policy ignoring local rules; nil when
// there are none.
func (f *Firewall) localRulesOn(l listing) error {
	var off []string
	for _, p := range l.localOff {
		if slices.ContainsFunc(f.profiles, func(mine string) bool { return strings.EqualFold(mine, p) }) {
			off = append(off, p)
		}
	}
	if len(off) == 0 {
		return nil
	}
	return &LocalRulesIgnored{Profiles: off}
}

// make carries out p, which the listing just showed due, and names every
// rule the rules read back do not show done.
func (f *Firewall) make(ctx context.Context, k Kind, p plan) error {
	wanted := slices.Concat(p.add, p.remake)
	after, out, err := f.change(ctx, k, p)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range wanted {
		if err := f.verdict(after, r, true); err != nil {
			errs = append(errs, fmt.Errorf("%w; output: %s", err, winexec.Said(out, maxOutput)))
		}
	}
	for _, r := range p.remove {
		if err := f.verdict(after, r, false); err != nil {
			errs = append(errs, fmt.Errorf("%w; output: %s", err, winexec.Said(out, maxOutput)))
		}
	}
	f.log.Info("firewall rules changed", "firewall", k, "added", len(p.add), "remade", len(p.remake), "removed", len(p.remove), "failed", len(errs))
	return errors.Join(errs...)
}

// change carries out p, which the listing just showed due, so every line
// must succeed, and returns the listing afterwards with the tools'
// output. A rule to remake is removed (all rules of its name) and added
// again. Whether `netsh -f` goes on past a failing line is undocumented
// (ReactOS's netsh stops), so when rules are still not as wanted, each is
// tried again in a run of its own, by what the listing shows of it: one
// rule the firewall refuses cannot block the rest.
func (f *Firewall) change(ctx context.Context, k Kind, p plan) (listing, []byte, error) {
	out, err := f.apply(ctx, k, slices.Concat(p.add, p.remake), slices.Concat(p.remake, p.remove))
	if err != nil {
		return listing{}, nil, err
	}
	after, err := f.list(ctx, k)
	if err != nil {
		return listing{}, nil, fmt.Errorf("after changing the %s firewall: %w", k, err)
	}
	if len(p.add)+len(p.remake)+len(p.remove) == 1 {
		return after, out, nil
	}
	var retry []plan
	own := after.own(k)
	for _, r := range p.remove {
		if f.verdict(after, r, false) != nil {
			retry = append(retry, plan{remove: []Rule{r}})
		}
	}
	for _, r := range slices.Concat(p.add, p.remake) {
		switch {
		case f.verdict(after, r, true) == nil:
		case own[r] == nil:
			retry = append(retry, plan{add: []Rule{r}})
		default:
			retry = append(retry, plan{remake: []Rule{r}})
		}
	}
	if len(retry) == 0 {
		return after, out, nil
	}
	for _, one := range retry {
		more, err := f.apply(ctx, k, slices.Concat(one.add, one.remake), slices.Concat(one.remake, one.remove))
		if err != nil {
			return listing{}, nil, err
		}
		out = append(out, more...)
	}
	if after, err = f.list(ctx, k); err != nil {
		return listing{}, nil, fmt.Errorf("after changing the %s firewall: %w", k, err)
	}
	return after, out, nil
}

// Script renders the commands that add and remove rules of one firewall:
// a `netsh -f` script for the Windows firewall, PowerShell for Hyper-V.
// Removals come first; added rules apply in profiles.
func Script(k Kind, add, remove []Rule, profiles []string) string {
	return strings.Join(scriptLines(k, add, remove, profiles), "\r\n") + "\r\n"
}

func scriptLines(k Kind, add, remove []Rule, profiles []string) []string {
	var lines []string
	for _, r := range remove {
		if k == HyperV {
			lines = append(lines, psDelete(r))
		} else {
			lines = append(lines, netshDelete(r.Name()))
		}
	}
	for _, r := range add {
		if k == HyperV {
			lines = append(lines, psAdd(r, profiles))
		} else {
			lines = append(lines, netshAdd(r, profiles))
		}
	}
	return lines
}

// apply runs the commands: one netsh script (a file, of any length) for
// the Windows firewall; for Hyper-V as few PowerShell runs as fit, since
// PowerShell takes its script on the command line, which Windows caps.
func (f *Firewall) apply(ctx context.Context, k Kind, add, remove []Rule) ([]byte, error) {
	if k == Windows {
		out, err := f.shell.Netsh(ctx, Script(k, add, remove, f.profiles))
		if err != nil {
			return nil, fmt.Errorf("change Windows firewall rules: %w", err)
		}
		return out, nil
	}
	var out []byte
	for _, script := range fitting(scriptLines(k, add, remove, f.profiles), winexec.PowerShellFits) {
		more, err := f.shell.PowerShell(ctx, script)
		if err != nil {
			return nil, fmt.Errorf("change Hyper-V firewall rules: %w", err)
		}
		out = append(out, more...)
	}
	return out, nil
}

// fitting joins lines into as few scripts as fits allows, in order. A
// line that does not fit on its own is a script of its own (and fails
// when run, in words).
func fitting(lines []string, fits func(string) bool) []string {
	var scripts []string
	cur := ""
	for _, l := range lines {
		next := cur + l + "\r\n"
		if cur != "" && !fits(next) {
			scripts = append(scripts, cur)
			next = l + "\r\n"
		}
		cur = next
	}
	if cur != "" {
		scripts = append(scripts, cur)
	}
	return scripts
}

// list lists the rules of firewall k whose display name starts with
// Prefix; an error when the listing failed, never an empty list.
func (f *Firewall) list(ctx context.Context, k Kind) (listing, error) {
	out, err := f.shell.PowerShell(ctx, listScript(k))
	if err != nil {
		return listing{}, fmt.Errorf("list %s firewall rules: %w", k, err)
	}
	l, err := parseRules(string(out))
	if err != nil {
		return listing{}, fmt.Errorf("list %s firewall rules: %w", k, err)
	}
	return l, nil
}

// Names lists the display names of the rules in the Windows firewall
// that start with Prefix, once per rule: what selftest checks.
func (f *Firewall) Names(ctx context.Context) ([]string, error) {
	l, err := f.list(ctx, Windows)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l.rules))
	for i, lr := range l.rules {
		out[i] = lr.DisplayName
	}
	return out, nil
}

func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int { return strings.Compare(a.Name(), b.Name()) })
}
