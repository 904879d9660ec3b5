package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/winhost/winexec"
)

// DaemonRuleName names the rule `wslfwd-hostd install` makes so agents in
// WSL reach the daemon. It starts with Prefix but is not a port rule, so
// Sync never touches it.
const DaemonRuleName = Prefix + "daemon (gRPC from WSL)"

// DaemonRuleScript renders the `netsh -f` script that replaces the
// daemon's rule: inbound TCP to port, only on the host's WSL-facing
// address (localip), so the port is not opened to the LAN.
func DaemonRuleScript(wslAddr netip.Addr, port uint16) (string, error) {
	if !wslAddr.IsValid() || wslAddr.IsUnspecified() || wslAddr.Zone() != "" || port == 0 {
		return "", fmt.Errorf("daemon firewall rule needs the WSL adapter address and a port, got %v port %d", wslAddr, port)
	}
	return DaemonRuleDeleteScript() +
		fmt.Sprintf(`advfirewall firewall add rule name="%s" dir=in action=allow protocol=TCP localport=%d localip=%s`+"\r\n",
			DaemonRuleName, port, wslAddr), nil
}

// DaemonRuleDeleteScript renders the `netsh -f` script that removes the
// daemon's rule.
func DaemonRuleDeleteScript() string {
	return fmt.Sprintf(`advfirewall firewall delete rule name="%s"`+"\r\n", DaemonRuleName)
}

// SetDaemonRule makes (or remakes) the daemon's rule for the WSL-facing
// address and checks that it exists afterwards.
func (f *Firewall) SetDaemonRule(ctx context.Context, wslAddr netip.Addr, port uint16) error {
	script, err := DaemonRuleScript(wslAddr, port)
	if err != nil {
		return err
	}
	return f.daemonRule(ctx, script, true)
}

// RemoveDaemonRule deletes the daemon's rule and checks that it is gone.
func (f *Firewall) RemoveDaemonRule(ctx context.Context) error {
	return f.daemonRule(ctx, DaemonRuleDeleteScript(), false)
}

func (f *Firewall) daemonRule(ctx context.Context, script string, want bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	out, err := f.shell.Netsh(ctx, script)
	if err != nil {
		return fmt.Errorf("change the daemon's firewall rule: %w", err)
	}
	names, err := f.shell.PowerShell(ctx, listScript(Windows))
	if err != nil {
		return fmt.Errorf("list firewall rules: %w", err)
	}
	found := slices.Contains(strings.Split(strings.ReplaceAll(string(names), "\r", ""), "\n"), DaemonRuleName)
	switch {
	case want && !found:
		return fmt.Errorf("firewall rule %q not found when read back; netsh said: %s", DaemonRuleName, winexec.Said(out, maxOutput))
	case !want && found:
		return fmt.Errorf("firewall rule %q still there when read back; netsh said: %s", DaemonRuleName, winexec.Said(out, maxOutput))
	}
	return nil
}
