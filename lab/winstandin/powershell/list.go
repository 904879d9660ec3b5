package powershell

import (
	"regexp"
	"slices"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// The listings wslfwd-hostd sends with firewall = true (firewall's
// listScript) print, for every rule of wslfwd's display name prefix, what
// decides what it lets in, through a hashtable join of the Windows
// firewall's filters, beyond what Parse reads line by line. As with the
// audits, the stand-in knows them whole: a script that is exactly one of
// them, line for line, is answered from the rules the stand-ins keep, and
// any other fails as an unknown script.
//
// The host the stand-in plays has no Group Policy: no profile ignores
// local rules. A filter that matches nothing is ObjectNotFound here too,
// so the listing's catch runs the listing without a filter, which prints
// the same rules: the answer does not depend on which ran.

// listNames is the tail of both listings' rule line: the names, with "|"
// and line breaks printed as "?".
const listNames = ` + '|' + ($_.Name -replace '[|\r\n]', '?') + '|' + ($_.DisplayName -replace '[|\r\n]', '?') }`

// listWindows and listHyperV are the listings, line for line.
var (
	listWindows = []string{
		`$ErrorActionPreference = 'Stop'`,
		`try { $rules = @(Get-NetFirewallRule -DisplayName 'wslfwd *') } catch { if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { $rules = @(Get-NetFirewallRule | Where-Object { $_.DisplayName -like 'wslfwd *' }) } else { throw } }`,
		`$port = @{}; $addr = @{}`,
		`if ($rules) { Get-NetFirewallPortFilter | ForEach-Object { $port[$_.InstanceID] = $_ }; Get-NetFirewallAddressFilter | ForEach-Object { $addr[$_.InstanceID] = $_ } }`,
		`$rules | ForEach-Object { $p = $port[$_.InstanceID]; $a = $addr[$_.InstanceID]; 'rule|' + $_.Enabled + '|' + $_.Direction + '|' + $_.Action + '|' + $p.Protocol + '|' + ($p.LocalPort -join ',') + '|' + $_.Profile + '|' + ($a.LocalAddress -join ',') + '|' + ''` + listNames,
		`Get-NetFirewallProfile -PolicyStore ActiveStore | Where-Object { $_.AllowLocalFirewallRules -eq 'False' } | ForEach-Object { 'nolocal|' + $_.Name }`,
		auditTail,
	}
	listHyperV = []string{
		`$ErrorActionPreference = 'Stop'`,
		`try { $rules = @(Get-NetFirewallHyperVRule -DisplayName 'wslfwd *') } catch { if ($_.FullyQualifiedErrorId -eq 'CommandNotFoundException') { $rules = @() } elseif ($_.CategoryInfo.Category -eq 'ObjectNotFound') { $rules = @(Get-NetFirewallHyperVRule | Where-Object { $_.DisplayName -like 'wslfwd *' }) } else { throw } }`,
		`$rules | ForEach-Object { 'rule|' + $_.Enabled + '|' + $_.Direction + '|' + $_.Action + '|' + $_.Protocol + '|' + ($_.LocalPorts -join ',') + '|' + $_.Profiles + '|' + '' + '|' + $_.VMCreatorId` + listNames,
		auditTail,
	}
)

// listTable returns the firewall a script lists, and false when the
// script is not, line for line, one of the listings.
func listTable(script string) (state.Table, bool) {
	lines := scriptLines(script)
	for t, want := range map[state.Table][]string{state.Windows: listWindows, state.HyperV: listHyperV} {
		if slices.Equal(lines, want) {
			return t, true
		}
	}
	return "", false
}

// list prints what the listing of table t prints: a rule line for every
// rule whose display name matches 'wslfwd *', then the done line.
// Without the Hyper-V firewall the Hyper-V listing prints no rules.
func list(st state.Store, t state.Table, noHyperV bool) (string, *psError) {
	var b strings.Builder
	if t == state.HyperV && noHyperV {
		return auditTail[1:len(auditTail)-1] + "\r\n", nil
	}
	rules, err := st.Rules(t)
	if err != nil {
		return "", &psError{cmdlet: "Get-NetFirewallRule", msg: err.Error(), category: "ReadError"}
	}
	for _, r := range rules {
		if line, ok := listLine(t, r); ok {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString(auditTail[1:len(auditTail)-1] + "\r\n")
	return b.String(), nil
}

// ownNames is the listings' display name filter, 'wslfwd *'.
var ownNames = func() *regexp.Regexp {
	re, err := wildcard("wslfwd *")
	if err != nil {
		panic(err)
	}
	return re
}()

// listLine renders a rule as the listing's rule line, values as the
// cmdlets print them; false when its display name is not wslfwd's prefix.
func listLine(t state.Table, r state.Rule) (string, bool) {
	var f []string
	if t == state.HyperV {
		f = []string{orTrue(r["enabled"]), r["direction"], action(r["action"]), protocol(r["protocol"]), ports(r["localports"]),
			profiles(r["profiles"]), "", r["vmcreatorid"], r["name"], r["displayname"]}
	} else {
		enabled := "True"
		if strings.EqualFold(r["enable"], "no") {
			enabled = "False"
		}
		dir := map[string]string{"in": "Inbound", "out": "Outbound"}[strings.ToLower(r["dir"])]
		f = []string{enabled, dir, action(r["action"]), protocol(r["protocol"]), ports(r["localport"]),
			profiles(r["profile"]), orAny(r["localip"]), "", r["id"], r["name"]}
	}
	if !ownNames.MatchString(f[len(f)-1]) {
		return "", false
	}
	clean := strings.NewReplacer("|", "?", "\r", "?", "\n", "?")
	for i := len(f) - 2; i < len(f); i++ {
		f[i] = clean.Replace(f[i])
	}
	return "rule|" + strings.Join(f, "|"), true
}

// orTrue prints a Hyper-V rule's Enabled: True unless it says otherwise.
func orTrue(s string) string {
	if s == "" {
		return "True"
	}
	return s
}
