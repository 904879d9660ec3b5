package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/winexec"
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
	shell Shell
	log   *slog.Logger
	mu    sync.Mutex
}

// New returns a Firewall that runs its commands through shell.
func New(shell Shell, log *slog.Logger) *Firewall {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Firewall{shell: shell, log: log}
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
		}
	}
	return errors.Join(errs...)
}

func (f *Firewall) syncKind(ctx context.Context, k Kind, want map[Rule]bool) error {
	var wantHere []Rule
	for r := range want {
		if r.Kind == k {
			wantHere = append(wantHere, r)
		}
	}
	have, err := f.list(ctx, k)
	if err != nil {
		if len(wantHere) == 0 {
			// No rules wanted in a firewall we cannot read (no Hyper-V
			// firewall before Windows 11 22H2): nothing to do.
			f.log.Debug("cannot list firewall rules", "firewall", k, "err", err)
			return nil
		}
		return err
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
	sortRules(add)
	sortRules(remove)
	out, err := f.apply(ctx, k, add, remove)
	if err != nil {
		return err
	}
	after, err := f.list(ctx, k)
	if err != nil {
		return fmt.Errorf("after changing the %s firewall: %w", k, err)
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

// Script renders the commands that add and remove rules of one firewall:
// a `netsh -f` script for the Windows firewall, PowerShell for Hyper-V.
// Removals come first.
func Script(k Kind, add, remove []Rule) string {
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
			lines = append(lines, psAdd(r))
		} else {
			lines = append(lines, netshAdd(r))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func (f *Firewall) apply(ctx context.Context, k Kind, add, remove []Rule) ([]byte, error) {
	script := Script(k, add, remove)
	if k == HyperV {
		out, err := f.shell.PowerShell(ctx, script)
		if err != nil {
			return nil, fmt.Errorf("change Hyper-V firewall rules: %w", err)
		}
		return out, nil
	}
	out, err := f.shell.Netsh(ctx, script)
	if err != nil {
		return nil, fmt.Errorf("change Windows firewall rules: %w", err)
	}
	return out, nil
}

// list returns wslfwd's rules in the firewall.
func (f *Firewall) list(ctx context.Context, k Kind) (map[Rule]bool, error) {
	out, err := f.shell.PowerShell(ctx, listScript(k))
	if err != nil {
		return nil, fmt.Errorf("list %s firewall rules: %w", k, err)
	}
	return parseList(k, string(out)), nil
}

// parseList reads the names the list script printed, keeping wslfwd's.
func parseList(k Kind, out string) map[Rule]bool {
	rules := make(map[Rule]bool)
	for _, line := range strings.Split(out, "\n") {
		if r, ok := ParseName(k, strings.TrimRight(line, "\r")); ok {
			rules[r] = true
		}
	}
	return rules
}

func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int { return strings.Compare(a.Name(), b.Name()) })
}
