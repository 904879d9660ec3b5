package firewall

import (
	"fmt"
	"net/netip"
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
