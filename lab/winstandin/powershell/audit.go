package powershell

import (
	"slices"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// The audit scripts wslfwd-hostd sends with firewall = false (firewall's
// auditScript) list the inbound rules in force through the NetSecurity
// cmdlets and a hashtable join, beyond what Parse reads line by line. The
// stand-in knows them whole: a script that is exactly one of them, line
// for line, is answered from the rules the stand-ins keep; any other
// fails as an unknown script, so a change on the daemon's side shows here
// before it can reach a real host unchecked.
//
// The host the stand-in plays is on one network, of category Private,
// with every firewall profile on and blocking what no rule allows (a
// fresh Windows), and the Hyper-V firewall of WSL's VM on with its
// default, block.

const wslVMCreatorID = "{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}"

// auditHead and auditTail frame both audit scripts.
var (
	auditHead = []string{`$ErrorActionPreference = 'Stop'`,
		`Get-NetConnectionProfile | ForEach-Object { 'profile|' + $_.NetworkCategory }`}
	auditTail = `'wslfwd-list-done'`
)

// auditWindows is the body of the Windows firewall's audit.
var auditWindows = []string{
	`Get-NetFirewallProfile -PolicyStore ActiveStore | Where-Object { $_.Enabled -eq 'False' -or $_.DefaultInboundAction -eq 'Allow' } | ForEach-Object { 'default|' + $_.Name }`,
	`$port = @{}; Get-NetFirewallPortFilter -PolicyStore ActiveStore | ForEach-Object { $port[$_.InstanceID] = $_ }`,
	`$app = @{}; Get-NetFirewallApplicationFilter -PolicyStore ActiveStore | ForEach-Object { $app[$_.InstanceID] = $_.Program }`,
	`$svc = @{}; Get-NetFirewallServiceFilter -PolicyStore ActiveStore | ForEach-Object { $svc[$_.InstanceID] = $_.Service }`,
	`Get-NetFirewallRule -PolicyStore ActiveStore -Direction Inbound -Enabled True | ForEach-Object { $p = $port[$_.InstanceID]; 'rule|' + $_.Action + '|' + $p.Protocol + '|' + ($p.LocalPort -join ',') + '|' + $_.Profile + '|' + $app[$_.InstanceID] + '|' + $svc[$_.InstanceID] }`,
}

// auditHyperV is the body of the Hyper-V firewall's audit.
var auditHyperV = []string{
	`Get-NetFirewallHyperVVMSetting -PolicyStore ActiveStore -Name '` + wslVMCreatorID + `' | Where-Object { $_.DefaultInboundAction -eq 'Allow' -or $_.Enabled -eq 'False' } | ForEach-Object { 'default|Any' }`,
	`Get-NetFirewallHyperVRule -PolicyStore ActiveStore -Direction Inbound | Where-Object { $_.Enabled -eq 'True' -and ($_.VMCreatorId -eq '` + wslVMCreatorID + `' -or $_.VMCreatorId -eq 'Any' -or -not $_.VMCreatorId) } | ForEach-Object { 'rule|' + $_.Action + '|' + $_.Protocol + '|' + ($_.LocalPorts -join ',') + '|' + $_.Profiles + '|Any|Any' }`,
}

// auditTable returns the firewall a script audits, and false when the
// script is not, line for line, one of the audit scripts.
func auditTable(script string) (state.Table, bool) {
	lines := scriptLines(script)
	for t, body := range map[state.Table][]string{state.Windows: auditWindows, state.HyperV: auditHyperV} {
		if slices.Equal(lines, slices.Concat(auditHead, body, []string{auditTail})) {
			return t, true
		}
	}
	return "", false
}

// scriptLines is a script's lines, trimmed, without empty ones.
func scriptLines(script string) []string {
	var lines []string
	for _, line := range strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// audit prints what the audit script of table t prints on the host the
// stand-in plays: its network's category, no profile that lets traffic
// in by default, and one line per enabled inbound rule, then the done
// line. Without the Hyper-V firewall (noHyperV) the Hyper-V audit stops
// at its first Hyper-V cmdlet.
func audit(st state.Store, t state.Table, noHyperV bool) (string, *psError) {
	rules, err := st.Rules(t)
	if err != nil {
		return "", &psError{cmdlet: "Get-NetFirewallRule", msg: err.Error(), category: "ReadError"}
	}
	var b strings.Builder
	b.WriteString("profile|Private\r\n")
	if t == state.HyperV && noHyperV {
		return b.String(), notRecognized("Get-NetFirewallHyperVVMSetting")
	}
	for _, r := range rules {
		if line, ok := auditLine(t, r); ok {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("wslfwd-list-done\r\n")
	return b.String(), nil
}

// auditLine renders a rule as the audit's rule line, with the values as
// the cmdlets print them; false when the audit's filter leaves it out
// (disabled, outbound, or a Hyper-V rule of another VM creator).
func auditLine(t state.Table, r state.Rule) (string, bool) {
	if t == state.HyperV {
		creator := r["vmcreatorid"]
		if !strings.EqualFold(r["direction"], "Inbound") || !(strings.EqualFold(creator, wslVMCreatorID) || creator == "" || strings.EqualFold(creator, "Any")) {
			return "", false
		}
		return strings.Join([]string{"rule", action(r["action"]), protocol(r["protocol"]), ports(r["localports"]),
			profiles(r["profiles"]), "Any", "Any"}, "|"), true
	}
	if !strings.EqualFold(r["dir"], "in") || strings.EqualFold(r["enable"], "no") {
		return "", false
	}
	return strings.Join([]string{"rule", action(r["action"]), protocol(r["protocol"]), ports(r["localport"]),
		profiles(r["profile"]), orAny(r["program"]), "Any"}, "|"), true
}

// action names a rule's action as the Action enum prints it; a netsh
// bypass rule is an Allow rule that overrides block rules.
func action(s string) string {
	if strings.EqualFold(s, "block") {
		return "Block"
	}
	return "Allow"
}

// protocol names a protocol as the port filter prints it: TCP, UDP, Any,
// ICMPv4, ICMPv6, or the number.
func protocol(s string) string {
	for _, p := range []string{"TCP", "UDP", "ICMPv4", "ICMPv6"} {
		if strings.EqualFold(s, p) {
			return p
		}
	}
	return orAny(s)
}

// ports prints a port list as `LocalPort -join ','` does.
func ports(s string) string { return orAny(strings.ReplaceAll(s, " ", "")) }

// profiles prints a profile list as the Profile enum does: flags in the
// order Domain, Private, Public, or Any for all of them.
func profiles(s string) string {
	var out []string
	for _, p := range []string{"Domain", "Private", "Public"} {
		for _, given := range strings.Split(s, ",") {
			if strings.EqualFold(strings.TrimSpace(given), p) {
				out = append(out, p)
				break
			}
		}
	}
	if len(out) == 0 || len(out) == 3 {
		return "Any"
	}
	return strings.Join(out, ", ")
}

func orAny(s string) string {
	if s == "" || strings.EqualFold(s, "any") {
		return "Any"
	}
	return s
}
