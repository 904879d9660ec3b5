package firewall

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// A rule of wslfwd's name is made only when it lets in what it is made
// for: a rule a user, a hardening tool or Defender disabled, set to
// Block, or moved to another port or profile, still carries the name and
// lets nothing in. So the listing prints, for every rule whose display
// name starts with Prefix, what decides what it lets in, and Go judges it
// (faults), so every case is tested on Linux. It also prints the profiles
// where Group Policy keeps local rules, wslfwd's among them, from taking
// effect (AllowLocalFirewallRules False in the ActiveStore).

// listDone is the line a list script prints last, and only when the
// listing worked: PowerShell can fail and still exit 0, and a failed
// listing must never read as "no rules".
const listDone = "wslfwd-list-done"

// ruleFields is how many fields a listing's rule line has.
const ruleFields = 11

// listedRule is a rule as a listing printed it, values as the cmdlets
// print them.
type listedRule struct {
	Enabled, Direction, Action string // "True", "Inbound", "Allow"
	Protocol                   string // "TCP", "UDP", a number, "Any"
	LocalPorts                 string // "8080", "80,443", "Any"
	Profiles                   string // "Any", "Domain, Private"
	LocalAddresses             string // "Any", "172.28.240.1"; Windows' rules only
	VMCreatorID                string // Hyper-V rules only
	// Name is the rule's unique name (a GUID for rules netsh made);
	// DisplayName the name netsh and wslfwd give it. "|" and line breaks
	// in either print as "?", so no name can forge a line.
	Name, DisplayName string
}

// listing is what a list script printed.
type listing struct {
	rules []listedRule
	// localOff are the profiles ("Domain", "Private", "Public") where
	// Group Policy makes the host ignore local rules.
	localOff []string
}

// psName is the sanitised name printed: a line break or "|" is "?".
func psName(field string) string { return `(` + field + ` -replace '[|\r\n]', '?')` }

// ruleLine is the PowerShell expression of a listing's rule line, from
// the expressions of its fields before the names.
func ruleLine(fields ...string) string {
	return `'rule|' + ` + strings.Join(append(fields, psName(`$_.Name`), psName(`$_.DisplayName`)), ` + '|' + `)
}

// listScript renders the PowerShell that lists the rules of firewall k
// whose display name starts with Prefix, from the store netsh and the
// Hyper-V cmdlets change (PersistentStore, the cmdlets' default), as
// "rule|Enabled|Direction|Action|Protocol|LocalPorts|Profiles|
// LocalAddresses|VMCreatorId|Name|DisplayName" lines (a Hyper-V rule's
// addresses, which wslfwd never sets, are not read);
// for the Windows firewall the profiles whose local rules Group Policy
// ignores as "nolocal|Profile" lines; then listDone.
//
// Rules are found by -DisplayName, the parameter that takes wildcards
// (-Name does not). Whether a wildcard filter that matches nothing raises
// ObjectNotFound is undocumented, and other failures share the category,
// so one does not prove there are no rules: the script then lists every
// rule and selects by -like what the filter would have. Any error of that
// second listing ends the script before listDone: a failed listing, never
// "no rules". Only in the Hyper-V firewall does a missing cmdlet mean no
// rules (none before Windows 11 22H2); it is known by its
// FullyQualifiedErrorId, since its category is ObjectNotFound too.
//
// A Windows Firewall rule's ports and addresses are in filters of their
// own, read in one pass each and joined by InstanceID (as auditScript
// does), and only when there are rules to join.
func listScript(k Kind) string {
	cmdlet := "Get-NetFirewallRule"
	if k == HyperV {
		cmdlet = "Get-NetFirewallHyperVRule"
	}
	everything := `$rules = @(` + cmdlet + ` | Where-Object { $_.DisplayName -like '` + Prefix + `*' })`
	notFound := `($_.CategoryInfo.Category -eq 'ObjectNotFound') { ` + everything + ` }`
	catch := `if ` + notFound + ` else { throw }`
	if k == HyperV {
		catch = `if ($_.FullyQualifiedErrorId -eq 'CommandNotFoundException') { $rules = @() } elseif ` + notFound + ` else { throw }`
	}
	lines := []string{
		`$ErrorActionPreference = 'Stop'`,
		`try { $rules = @(` + cmdlet + ` -DisplayName '` + Prefix + `*') } catch { ` + catch + ` }`,
	}
	if k == HyperV {
		lines = append(lines, `$rules | ForEach-Object { `+ruleLine(`$_.Enabled`, `$_.Direction`, `$_.Action`, `$_.Protocol`,
			`($_.LocalPorts -join ',')`, `$_.Profiles`, `''`, `$_.VMCreatorId`)+` }`)
	} else {
		lines = append(lines,
			`$port = @{}; $addr = @{}`,
			`if ($rules) { Get-NetFirewallPortFilter | ForEach-Object { $port[$_.InstanceID] = $_ }; Get-NetFirewallAddressFilter | ForEach-Object { $addr[$_.InstanceID] = $_ } }`,
			`$rules | ForEach-Object { $p = $port[$_.InstanceID]; $a = $addr[$_.InstanceID]; `+ruleLine(`$_.Enabled`, `$_.Direction`, `$_.Action`, `$p.Protocol`,
				`($p.LocalPort -join ',')`, `$_.Profile`, `($a.LocalAddress -join ',')`, `''`)+` }`,
			`Get-NetFirewallProfile -PolicyStore ActiveStore | Where-Object { $_.AllowLocalFirewallRules -eq 'False' } | ForEach-Object { 'nolocal|' + $_.Name }`)
	}
	return strings.Join(append(lines, `'`+listDone+`'`), "\r\n") + "\r\n"
}

// parseListing returns the lines a list script printed before listDone,
// or an error when the listing did not finish.
func parseListing(out string) ([]string, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r", ""), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 || lines[len(lines)-1] != listDone {
		return nil, fmt.Errorf("the listing failed: %s", winexec.Said([]byte(out), maxOutput))
	}
	return lines[:len(lines)-1], nil
}

// parseRules reads what listScript printed; an error when the listing
// did not finish or a line is not one it prints.
func parseRules(out string) (listing, error) {
	lines, err := parseListing(out)
	if err != nil {
		return listing{}, err
	}
	var l listing
	for _, line := range lines {
		f := strings.Split(line, "|")
		switch {
		case len(f) == 2 && f[0] == "nolocal":
			l.localOff = append(l.localOff, f[1])
		case len(f) == ruleFields && f[0] == "rule":
			l.rules = append(l.rules, listedRule{Enabled: f[1], Direction: f[2], Action: f[3], Protocol: f[4],
				LocalPorts: f[5], Profiles: f[6], LocalAddresses: f[7], VMCreatorID: f[8],
				Name: f[9], DisplayName: f[10]})
		default:
			return listing{}, fmt.Errorf("the firewall listing printed %q, not a line it prints", line)
		}
	}
	return l, nil
}

// own groups the listed rules of firewall k that are wslfwd's port rules
// by the rule they are: those whose display name parses (ParseName) and,
// in the Hyper-V firewall, whose Name is that display name too, since
// Hyper-V rules are removed by -Name: a rule of wslfwd's display name and
// another Name is a user's, and removing by -Name would touch a rule the
// listing never showed.
func (l listing) own(k Kind) map[Rule][]listedRule {
	out := make(map[Rule][]listedRule)
	for _, lr := range l.rules {
		r, ok := ParseName(k, lr.DisplayName)
		if ok && (k != HyperV || lr.Name == lr.DisplayName) {
			out[r] = append(out[r], lr)
		}
	}
	return out
}

// shape is what a rule must be to let in what it is made for.
type shape struct {
	protocol backend.Protocol
	port     uint16
	profiles []string // netsh's words; empty for every profile
	localIP  string   // the one local address the rule is made for; "" for none
	creator  string   // the Hyper-V firewall's VM creator; "" in Windows'
}

// portShape is the shape of port rule r made in profiles.
func portShape(r Rule, profiles []string) shape {
	s := shape{protocol: r.Protocol, port: r.Port, profiles: profiles}
	if r.Kind == HyperV {
		s.creator = WSLVMCreatorID
	}
	return s
}

// faults says how lr differs from s, in words; none when it lets in what
// s does, where s does. Every value wslfwd makes the rule with is judged
// as the cmdlets print it, and a value not printed (a filter that did not
// join) is a fault: what cannot be read is not taken as made. Addresses
// wslfwd does not set are not judged: a port rule a user narrowed to
// some remote addresses is theirs to narrow (the audit, too, takes such
// a rule as letting the LAN in).
func (lr listedRule) faults(s shape) []string {
	var out []string
	check := func(what, got string, ok bool) {
		if !ok {
			out = append(out, fmt.Sprintf("%s %q", what, got))
		}
	}
	check("enabled", lr.Enabled, lr.Enabled == "True")
	check("direction", lr.Direction, lr.Direction == "Inbound")
	check("action", lr.Action, lr.Action == "Allow")
	check("protocol", lr.Protocol, protocolIs(lr.Protocol, s.protocol))
	check("local port", lr.LocalPorts, lr.LocalPorts == strconv.Itoa(int(s.port)))
	check("profiles", lr.Profiles, sameProfiles(lr.Profiles, s.profiles))
	if s.localIP != "" {
		check("local address", lr.LocalAddresses, lr.LocalAddresses == s.localIP)
	}
	if s.creator != "" {
		check("VM creator", lr.VMCreatorID, strings.EqualFold(lr.VMCreatorID, s.creator))
	}
	return out
}

// protocolIs reports whether a printed protocol is p, by name or number.
func protocolIs(printed string, p backend.Protocol) bool {
	number := map[backend.Protocol]string{backend.TCP: "6", backend.UDP: "17"}[p]
	return printed == upper(p) || printed == number
}

// sameProfiles reports whether printed profiles ("Any", or names joined
// by ", ") are exactly want (netsh's words; none means every profile).
// A rule in more profiles than asked opens ports where the user said no
// (Public); in fewer, it lets nothing in where it should.
func sameProfiles(printed string, want []string) bool {
	every := []string{"domain", "private", "public"}
	if len(want) == 0 {
		want = every
	}
	got := every
	if printed != "Any" {
		got = strings.Split(strings.ToLower(strings.ReplaceAll(printed, " ", "")), ",")
	}
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Compact(slices.Sorted(slices.Values(want))))
}
