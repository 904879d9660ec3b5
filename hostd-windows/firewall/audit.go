package firewall

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// An audit answers, when the daemon does not make rules (firewall =
// false), which forwarded ports no inbound rule lets LAN clients reach.
// PowerShell lists the firewall's enabled inbound rules as plain lines;
// judging them is Go (Blocked), so every case is tested on Linux.
//
// The judging is as strict as Windows: a block rule wins over any allow
// rule; an allow rule counts only when it applies to every program and
// service (portproxy runs inside svchost, the relay inside the daemon),
// to the protocol and port, and to a profile in force now. Address and
// interface conditions are not judged: a rule for "LocalSubnet" still
// lets the LAN in.

// InboundRule is an enabled inbound rule as the audit listed it.
type InboundRule struct {
	Action   string   // "Allow", "Block" ("NotConfigured" does neither)
	Protocol string   // "TCP", "UDP", "Any", or a number
	Ports    []string // "Any", "80", "8000-8100", or keywords such as "RPC"
	Profiles string   // "Any", or names joined by ", ": "Domain, Private"
	Scoped   bool     // limited to a program or service
}

// Listing is what an audit script printed.
type Listing struct {
	Rules []InboundRule
	// Active are the categories of the networks the host is on now
	// ("Public", "Private", "DomainAuthenticated"); empty when the host
	// is on none, when rules of every profile count.
	Active []string
	// DefaultAllow are the profiles ("Domain", "Private", "Public", or
	// "Any") where traffic no rule matches is let in: a profile switched
	// off, or set to allow inbound by default.
	DefaultAllow []string
}

// auditScript renders the PowerShell that lists firewall k's enabled
// inbound rules as "rule|Action|Protocol|Ports|Profiles|Program|Service"
// lines, the active network categories as "profile|Category", and the
// profiles where traffic no rule matches is let in anyway as
// "default|Profile" (the Hyper-V firewall's setting is one for all); then
// listDone. Filters are read in one pass each and joined by InstanceID:
// piping every rule through Get-NetFirewallPortFilter takes minutes.
func auditScript(k Kind) string {
	lines := []string{`$ErrorActionPreference = 'Stop'`,
		`Get-NetConnectionProfile | ForEach-Object { 'profile|' + $_.NetworkCategory }`}
	if k == HyperV {
		lines = append(lines,
			`Get-NetFirewallHyperVVMSetting -PolicyStore ActiveStore -Name '`+WSLVMCreatorID+`' | Where-Object { $_.DefaultInboundAction -eq 'Allow' -or $_.Enabled -eq 'False' } | ForEach-Object { 'default|Any' }`,
			`Get-NetFirewallHyperVRule -PolicyStore ActiveStore -Direction Inbound | Where-Object { $_.Enabled -eq 'True' -and ($_.VMCreatorId -eq '`+WSLVMCreatorID+`' -or $_.VMCreatorId -eq 'Any' -or -not $_.VMCreatorId) } | ForEach-Object { 'rule|' + $_.Action + '|' + $_.Protocol + '|' + ($_.LocalPorts -join ',') + '|' + $_.Profiles + '|Any|Any' }`)
	} else {
		lines = append(lines,
			`Get-NetFirewallProfile -PolicyStore ActiveStore | Where-Object { $_.Enabled -eq 'False' -or $_.DefaultInboundAction -eq 'Allow' } | ForEach-Object { 'default|' + $_.Name }`,
			`$port = @{}; Get-NetFirewallPortFilter -PolicyStore ActiveStore | ForEach-Object { $port[$_.InstanceID] = $_ }`,
			`$app = @{}; Get-NetFirewallApplicationFilter -PolicyStore ActiveStore | ForEach-Object { $app[$_.InstanceID] = $_.Program }`,
			`$svc = @{}; Get-NetFirewallServiceFilter -PolicyStore ActiveStore | ForEach-Object { $svc[$_.InstanceID] = $_.Service }`,
			`Get-NetFirewallRule -PolicyStore ActiveStore -Direction Inbound -Enabled True | ForEach-Object { $p = $port[$_.InstanceID]; 'rule|' + $_.Action + '|' + $p.Protocol + '|' + ($p.LocalPort -join ',') + '|' + $_.Profile + '|' + $app[$_.InstanceID] + '|' + $svc[$_.InstanceID] }`)
	}
	return strings.Join(append(lines, `'`+listDone+`'`), "\r\n") + "\r\n"
}

// parseAudit reads what auditScript printed; an error when the listing
// did not finish or a line is not one it prints.
func parseAudit(out string) (Listing, error) {
	lines, err := parseListing(out)
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	for _, line := range lines {
		f := strings.Split(strings.TrimSpace(line), "|")
		switch {
		case len(f) == 2 && f[0] == "profile":
			l.Active = append(l.Active, f[1])
		case len(f) == 2 && f[0] == "default":
			l.DefaultAllow = append(l.DefaultAllow, f[1])
		case len(f) == 7 && f[0] == "rule":
			l.Rules = append(l.Rules, InboundRule{
				Action:   f[1],
				Protocol: f[2],
				Ports:    strings.Split(f[3], ","),
				Profiles: f[4],
				Scoped:   !anyOrEmpty(f[5]) || !anyOrEmpty(f[6]),
			})
		default:
			return Listing{}, fmt.Errorf("the firewall listing printed %q, not a line it prints", line)
		}
	}
	return l, nil
}

func anyOrEmpty(s string) bool { return s == "" || s == "Any" }

// Blocked returns the rules of wanted whose port no rule of the listing
// lets in: the ports LAN clients cannot reach.
func (l Listing) Blocked(wanted []Rule) []Rule {
	var out []Rule
	for _, w := range wanted {
		if !l.allows(w) {
			out = append(out, w)
		}
	}
	return out
}

func (l Listing) allows(w Rule) bool {
	allowed := slices.ContainsFunc(l.DefaultAllow, l.inForce)
	for _, r := range l.Rules {
		if !r.matches(w) || !l.inForce(r.Profiles) {
			continue
		}
		switch r.Action {
		case "Block":
			return false // block rules win
		case "Allow":
			allowed = allowed || !r.Scoped
		}
	}
	return allowed
}

func (r InboundRule) matches(w Rule) bool {
	switch r.Protocol {
	case "Any", strings.ToUpper(string(w.Protocol)):
	case "6":
		if w.Protocol != "tcp" {
			return false
		}
	case "17":
		if w.Protocol != "udp" {
			return false
		}
	default:
		return false
	}
	return slices.ContainsFunc(r.Ports, func(p string) bool { return portIn(p, w.Port) })
}

// portIn reports whether spec ("Any", "80", "8000-8100") holds port.
// Keywords ("RPC", "PlayToDiscovery") name ports of their own.
func portIn(spec string, port uint16) bool {
	spec = strings.TrimSpace(spec)
	if spec == "Any" {
		return true
	}
	first, last, isRange := strings.Cut(spec, "-")
	if !isRange {
		last = first
	}
	lo, err1 := strconv.ParseUint(first, 10, 16)
	hi, err2 := strconv.ParseUint(last, 10, 16)
	return err1 == nil && err2 == nil && uint64(port) >= lo && uint64(port) <= hi
}

// inForce reports whether a rule of these profiles applies on the
// networks the host is on now.
func (l Listing) inForce(profiles string) bool {
	if profiles == "Any" || len(l.Active) == 0 {
		return true
	}
	for _, cat := range l.Active {
		p := cat
		if cat == "DomainAuthenticated" {
			p = "Domain"
		}
		if slices.Contains(strings.Split(strings.ReplaceAll(profiles, " ", ""), ","), p) {
			return true
		}
	}
	return false
}

// Blocked lists each firewall wanted names (Windows', Hyper-V's) and
// returns the rules whose port no inbound rule allows. It is the check
// for firewall = false, where the daemon makes no rules of its own.
func (f *Firewall) Blocked(ctx context.Context, wanted []Rule) ([]Rule, error) {
	var out []Rule
	for _, k := range []Kind{Windows, HyperV} {
		var here []Rule
		for _, r := range wanted {
			if r.Kind == k {
				here = append(here, r)
			}
		}
		if len(here) == 0 {
			continue
		}
		raw, err := f.shell.PowerShell(ctx, auditScript(k))
		if err != nil {
			return nil, fmt.Errorf("list the %s firewall's inbound rules: %w", k, err)
		}
		l, err := parseAudit(string(raw))
		if err != nil {
			return nil, fmt.Errorf("list the %s firewall's inbound rules: %w", k, err)
		}
		out = append(out, l.Blocked(here)...)
	}
	return out, nil
}
