package firewall

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/wslfwd/wslfwd/internal/winexec"
)

// DaemonRuleName names the rule `wslfwd-hostd install` makes so agents in
// WSL reach the daemon. It starts with Prefix but is not a port rule, so
// Sync never touches it.
const DaemonRuleName = Prefix + "daemon (gRPC from WSL)"

// DaemonRuleScript renders the `netsh -f` script that adds the daemon's
// rule: inbound TCP to port, only on the host's WSL-facing address
// (localip), so the port is not opened to the LAN.
func DaemonRuleScript(wslAddr netip.Addr, port uint16) (string, error) {
	if !wslAddr.IsValid() || wslAddr.IsUnspecified() || wslAddr.Zone() != "" || port == 0 {
		return "", fmt.Errorf("daemon firewall rule needs the WSL adapter address and a port, got %v port %d", wslAddr, port)
	}
	return fmt.Sprintf(`advfirewall firewall add rule name="%s" dir=in action=allow protocol=TCP localport=%d localip=%s`+"\r\n",
		DaemonRuleName, port, wslAddr), nil
}

// DaemonRuleDeleteScript renders the `netsh -f` script that removes every
// rule of the daemon's name.
func DaemonRuleDeleteScript() string {
	return fmt.Sprintf(`advfirewall firewall delete rule name="%s"`+"\r\n", DaemonRuleName)
}

// SetDaemonRule makes (or remakes) the daemon's rule for the WSL-facing
// address and checks that exactly one exists afterwards. The old rule is
// deleted in a netsh run of its own, and only when the listing shows it:
// a delete of an absent rule fails, and netsh may stop a script there;
// and in one script with the add, a delete that failed would leave the
// old rule, which a listing of names cannot tell from the new one.
func (f *Firewall) SetDaemonRule(ctx context.Context, wslAddr netip.Addr, port uint16) error {
	script, err := DaemonRuleScript(wslAddr, port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.removeDaemonRule(ctx); err != nil {
		return err
	}
	out, err := f.shell.Netsh(ctx, script)
	if err != nil {
		return fmt.Errorf("add the daemon's firewall rule: %w", err)
	}
	n, err := f.countDaemonRules(ctx)
	if err != nil {
		return fmt.Errorf("after adding the daemon's firewall rule: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("firewall rule %q: %d found when read back, want 1; netsh said: %s", DaemonRuleName, n, winexec.Said(out, maxOutput))
	}
	return nil
}

// RemoveDaemonRule deletes the daemon's rule, if the listing shows one,
// and checks that it is gone.
func (f *Firewall) RemoveDaemonRule(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeDaemonRule(ctx)
}

func (f *Firewall) removeDaemonRule(ctx context.Context) error {
	n, err := f.countDaemonRules(ctx)
	if err != nil || n == 0 {
		return err
	}
	out, err := f.shell.Netsh(ctx, DaemonRuleDeleteScript())
	if err != nil {
		return fmt.Errorf("delete the daemon's firewall rule: %w", err)
	}
	n, err = f.countDaemonRules(ctx)
	if err != nil {
		return fmt.Errorf("after deleting the daemon's firewall rule: %w", err)
	}
	if n != 0 {
		return fmt.Errorf("firewall rule %q: %d still there when read back; netsh said: %s", DaemonRuleName, n, winexec.Said(out, maxOutput))
	}
	return nil
}

// countDaemonRules counts the rules named as the daemon's.
func (f *Firewall) countDaemonRules(ctx context.Context) (int, error) {
	l, err := f.list(ctx, Windows)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, lr := range l.rules {
		if lr.DisplayName == DaemonRuleName {
			n++
		}
	}
	return n, nil
}
