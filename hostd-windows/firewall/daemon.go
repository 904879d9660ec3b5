package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// DaemonRuleName names the rule `wslfwd-hostd install` makes so agents in
// WSL reach the daemon. It starts with Prefix but is not a port rule, so
// Sync never touches it.
const DaemonRuleName = Prefix + "daemon (gRPC from WSL)"

// DaemonRuleNext names the daemon's rule while it replaces the one
// before: it is made beside the old rule, read back, and renamed to
// DaemonRuleName once the old rule is gone. Not a port rule either.
const DaemonRuleNext = DaemonRuleName + " (new)"

// daemonRuleScript renders the `netsh -f` line that adds a daemon's rule
// of this name: inbound TCP to port, only on the host's WSL-facing
// address (localip), so the port is not opened to the LAN.
func daemonRuleScript(name string, wslAddr netip.Addr, port uint16) (string, error) {
	if !wslAddr.IsValid() || wslAddr.IsUnspecified() || wslAddr.Zone() != "" || port == 0 {
		return "", fmt.Errorf("daemon firewall rule needs the WSL adapter address and a port, got %v port %d", wslAddr, port)
	}
	return fmt.Sprintf(`advfirewall firewall add rule name="%s" dir=in action=allow protocol=TCP localport=%d localip=%s`,
		name, port, wslAddr), nil
}

// daemonShape is what the daemon's rule must be: every profile (the WSL
// adapter's network is whatever Windows calls it), TCP to port on the
// WSL-facing address only.
func daemonShape(wslAddr netip.Addr, port uint16) shape {
	return shape{protocol: backend.TCP, port: port, localIP: wslAddr.String()}
}

// netshScript joins `netsh -f` lines into a script.
func netshScript(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

// SetDaemonRule makes (or remakes) the daemon's rule for the WSL-facing
// address and checks, on the read-back, that exactly one rule of its name
// lets that in. A rule already as wanted is left alone.
//
// Agents must never be cut off by a replacement that fails halfway, so
// the new rule is added first, as DaemonRuleNext, and read back; only
// then, in one script, is the old rule deleted and the new one renamed.
// netsh stops at a failing line (the strict reading), so a delete that
// fails leaves both rules; a rename that fails leaves the new rule under
// DaemonRuleNext. Either way a rule that lets agents in remains, the
// error says what is left, and the next call finishes the job.
func (f *Firewall) SetDaemonRule(ctx context.Context, wslAddr netip.Addr, port uint16) error {
	want := daemonShape(wslAddr, port)
	add, err := daemonRuleScript(DaemonRuleNext, wslAddr, port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.list(ctx, Windows)
	if err != nil {
		return err
	}
	if daemonRule(l, DaemonRuleName, want) == nil && len(named(l, DaemonRuleNext)) == 0 {
		return nil
	}
	// A DaemonRuleNext left by an earlier call that failed goes first:
	// the read-back could not tell it from the one added now.
	lines := []string{add}
	if len(named(l, DaemonRuleNext)) > 0 {
		lines = []string{netshDelete(DaemonRuleNext), add}
	}
	l, said, err := f.netshThenList(ctx, "add the daemon's firewall rule", netshScript(lines...))
	if err != nil {
		return err
	}
	if err := daemonRule(l, DaemonRuleNext, want); err != nil {
		return fmt.Errorf("the daemon's new firewall rule, read back: %w (the old rule is kept); netsh said: %s", err, said)
	}
	lines = []string{fmt.Sprintf(`advfirewall firewall set rule name="%s" new name="%s"`, DaemonRuleNext, DaemonRuleName)}
	if len(named(l, DaemonRuleName)) > 0 {
		lines = append([]string{netshDelete(DaemonRuleName)}, lines...)
	}
	if l, said, err = f.netshThenList(ctx, "replace the daemon's firewall rule", netshScript(lines...)); err != nil {
		return err
	}
	if err := errors.Join(daemonRule(l, DaemonRuleName, want), gone(l, DaemonRuleNext)); err != nil {
		return fmt.Errorf("the daemon's firewall rule, read back after replacing it: %w; netsh said: %s", err, said)
	}
	return nil
}

// RemoveDaemonRule deletes the daemon's rule, and one a replacement left
// under DaemonRuleNext, if the listing shows them, and checks that they
// are gone.
func (f *Firewall) RemoveDaemonRule(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.list(ctx, Windows)
	if err != nil {
		return err
	}
	var lines []string
	for _, name := range []string{DaemonRuleName, DaemonRuleNext} {
		if len(named(l, name)) > 0 {
			lines = append(lines, netshDelete(name))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	l, said, err := f.netshThenList(ctx, "delete the daemon's firewall rule", netshScript(lines...))
	if err != nil {
		return err
	}
	if err := errors.Join(gone(l, DaemonRuleName), gone(l, DaemonRuleNext)); err != nil {
		return fmt.Errorf("%w; netsh said: %s", err, said)
	}
	return nil
}

// netshThenList runs a netsh script and lists the Windows firewall's
// rules after it, and returns what netsh said, for the read-back's
// errors; the error of either says what was being done.
func (f *Firewall) netshThenList(ctx context.Context, doing, script string) (listing, string, error) {
	out, err := f.shell.Netsh(ctx, script)
	if err != nil {
		return listing{}, "", fmt.Errorf("%s: %w", doing, err)
	}
	l, err := f.list(ctx, Windows)
	if err != nil {
		return listing{}, "", fmt.Errorf("after trying to %s: %w", doing, err)
	}
	return l, winexec.Said(out, maxOutput), nil
}

// named is the listed rules of exactly this display name.
func named(l listing, name string) []listedRule {
	var out []listedRule
	for _, lr := range l.rules {
		if lr.DisplayName == name {
			out = append(out, lr)
		}
	}
	return out
}

// daemonRule says why the listing does not show exactly one rule of the
// name that is as want; nil when it does.
func daemonRule(l listing, name string, want shape) error {
	rules := named(l, name)
	if len(rules) != 1 {
		return fmt.Errorf("%d rules %q, want 1", len(rules), name)
	}
	if faults := rules[0].faults(want); len(faults) > 0 {
		return fmt.Errorf("rule %q is not as wanted: %s", name, strings.Join(faults, ", "))
	}
	return nil
}

// gone says that rules of the name are still listed; nil when none are.
func gone(l listing, name string) error {
	if n := len(named(l, name)); n > 0 {
		return fmt.Errorf("%d rules %q still there when read back", n, name)
	}
	return nil
}
