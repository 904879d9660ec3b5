package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// memo is the file that names the profiles the rules were made in
	// (Remember); remake is set until every rule is made in profiles, and
	// remade says of which firewalls they are.
	memo   string
	remake bool
	remade map[Kind]bool
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

// Sync makes wslfwd's rules exactly wanted: it adds the missing ones and
// removes its own rules that are no longer wanted, then reads the rules
// back. Rules not named by wslfwd are never touched. The error names every
// rule that is not as wanted.
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
		if err := f.syncKind(ctx, k, want); err != nil {
			errs = append(errs, err)
		} else if f.remake {
			f.remade[k] = true // a failure in the other firewall must not remake these again
		}
	}
	if f.remake && f.remade[Windows] && f.remade[HyperV] {
		// Remade once per daemon even if the file cannot be written (the
		// next daemon remakes them again): a state directory that cannot
		// be written must not make every Sync remove and add every rule.
		f.remake = false
		errs = append(errs, saveProfiles(f.memo, f.profiles))
	}
	return errors.Join(errs...)
}

// Rules lists the rules of the daemon's that exist, in both firewalls. A
// listing that fails is an error, never an empty list.
func (f *Firewall) Rules(ctx context.Context) ([]Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Rule
	for _, k := range []Kind{Windows, HyperV} {
		have, err := f.list(ctx, k)
		if err != nil {
			return nil, err
		}
		for r := range have {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, Rule.Compare)
	return out, nil
}

func (f *Firewall) syncKind(ctx context.Context, k Kind, want map[Rule]bool) error {
	var wantHere []Rule
	for r := range want {
		if r.Kind == k {
			wantHere = append(wantHere, r)
		}
	}
	// A listing that fails is an error even with no rules wanted: wslfwd's
	// stale rules may be there. A Windows without the Hyper-V firewall
	// lists none (listScript).
	have, err := f.list(ctx, k)
	if err != nil {
		return err
	}
	if f.remake && !f.remade[k] && len(have) > 0 {
		// Rules made in other profiles than f's (Remember) are remade: all
		// removed first, in a run of their own, and read back gone, since a
		// listing of names cannot tell an old rule from its new one.
		if err := f.make(ctx, k, nil, slices.Collect(maps.Keys(have))); err != nil {
			return err
		}
		have = map[Rule]bool{}
	}
	var add, remove []Rule
	for _, r := range wantHere {
		if !have[r] {
			add = append(add, r)
		}
	}
	for r := range have {
		if !want[r] {
			remove = append(remove, r)
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	return f.make(ctx, k, add, remove)
}

// make adds and removes rules, which the listing just showed missing and
// present, and names every one the rules read back do not show done.
func (f *Firewall) make(ctx context.Context, k Kind, add, remove []Rule) error {
	sortRules(add)
	sortRules(remove)
	after, out, err := f.change(ctx, k, add, remove)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range add {
		if !after[r] {
			errs = append(errs, fmt.Errorf("add %v: not found when read back; output: %s", r, winexec.Said(out, maxOutput)))
		}
	}
	for _, r := range remove {
		if after[r] {
			errs = append(errs, fmt.Errorf("remove %v: still there when read back; output: %s", r, winexec.Said(out, maxOutput)))
		}
	}
	f.log.Info("firewall rules changed", "firewall", k, "added", len(add), "removed", len(remove), "failed", len(errs))
	return errors.Join(errs...)
}

// change adds and removes rules, which the listing just showed missing
// and present, so every line must succeed, and returns the rules listed
// afterwards with the tools' output. Whether `netsh -f` goes on past a
// failing line is undocumented (ReactOS's netsh stops), so when rules are
// still not as wanted, each is tried again in a run of its own: one rule
// the firewall refuses cannot block the rest.
func (f *Firewall) change(ctx context.Context, k Kind, add, remove []Rule) (map[Rule]bool, []byte, error) {
	out, err := f.apply(ctx, k, add, remove)
	if err != nil {
		return nil, nil, err
	}
	after, err := f.list(ctx, k)
	if err != nil {
		return nil, nil, fmt.Errorf("after changing the %s firewall: %w", k, err)
	}
	if len(add)+len(remove) == 1 {
		return after, out, nil
	}
	retried := false
	for _, r := range remove {
		if after[r] {
			more, err := f.apply(ctx, k, nil, []Rule{r})
			if err != nil {
				return nil, nil, err
			}
			out, retried = append(out, more...), true
		}
	}
	for _, r := range add {
		if !after[r] {
			more, err := f.apply(ctx, k, []Rule{r}, nil)
			if err != nil {
				return nil, nil, err
			}
			out, retried = append(out, more...), true
		}
	}
	if !retried {
		return after, out, nil
	}
	if after, err = f.list(ctx, k); err != nil {
		return nil, nil, fmt.Errorf("after changing the %s firewall: %w", k, err)
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
			lines = append(lines, netshDelete(r))
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

// list returns wslfwd's rules in the firewall; an error when the listing
// failed, never an empty list.
func (f *Firewall) list(ctx context.Context, k Kind) (map[Rule]bool, error) {
	names, err := f.names(ctx, k)
	if err != nil {
		return nil, err
	}
	rules := make(map[Rule]bool)
	for _, n := range names {
		if r, ok := ParseName(k, n); ok {
			rules[r] = true
		}
	}
	return rules, nil
}

// Names lists the display names of the rules in the Windows firewall
// that start with Prefix, once per rule: what selftest checks.
func (f *Firewall) Names(ctx context.Context) ([]string, error) { return f.names(ctx, Windows) }

// names lists the display names starting with Prefix in the firewall,
// once per rule (Windows allows two rules of one name).
func (f *Firewall) names(ctx context.Context, k Kind) ([]string, error) {
	out, err := f.shell.PowerShell(ctx, listScript(k))
	if err != nil {
		return nil, fmt.Errorf("list %s firewall rules: %w", k, err)
	}
	names, err := parseListing(string(out))
	if err != nil {
		return nil, fmt.Errorf("list %s firewall rules: %w", k, err)
	}
	return names, nil
}

func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int { return strings.Compare(a.Name(), b.Name()) })
}
