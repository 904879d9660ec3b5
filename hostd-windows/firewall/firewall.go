// Package firewall keeps the inbound firewall rules that let clients reach
// forwarded ports: one Windows Firewall rule per port in NAT mode (LAN
// clients reaching portproxy) and WSL1, one Hyper-V firewall rule per port
// in mirrored mode (the Hyper-V firewall filters traffic into the WSL VM).
//
// Every rule it makes is named "wslfwd <proto>/<port>", so it finds and
// removes exactly its own: a rule whose name does not parse that way (a
// user's rule, or the daemon's own rule that `install` makes) is never
// touched. Rendering is OS-neutral; running the commands is behind Shell.
package firewall

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// RecheckEvery is how often the daemon reads back the firewall rules it
// made, its own included, while nothing changed them: to notice one a
// user, a hardening tool or Defender disabled or deleted since. Each check
// starts PowerShell, whose firewall cmdlets take hundreds of milliseconds
// of CPU or more on a host with many rules; every minute, as the audit of
// others' rules runs, would be a cost a laptop pays all day for a rare
// event, so five minutes bound how long such a rule stays unnoticed.
const RecheckEvery = 5 * time.Minute

// Prefix starts the name of every firewall rule wslfwd makes.
const Prefix = "wslfwd "

// WSLVMCreatorID identifies WSL's VMs to the Hyper-V firewall.
const WSLVMCreatorID = "{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}"

// Kind is a firewall a rule lives in.
type Kind string

// The firewalls.
const (
	Windows Kind = "windows" // Windows Defender Firewall: NAT mode, WSL1
	HyperV  Kind = "hyperv"  // Hyper-V firewall: mirrored mode
)

// Rule allows inbound traffic to one port.
type Rule struct {
	Kind     Kind
	Protocol backend.Protocol
	Port     uint16
}

// Compare orders rules by firewall, protocol and port.
func (r Rule) Compare(o Rule) int {
	return cmp.Or(cmp.Compare(r.Kind, o.Kind), cmp.Compare(r.Protocol, o.Protocol), cmp.Compare(r.Port, o.Port))
}

// Name is the rule's name in its firewall: "wslfwd tcp/8080".
func (r Rule) Name() string { return fmt.Sprintf("%s%s/%d", Prefix, r.Protocol, r.Port) }

func (r Rule) String() string { return fmt.Sprintf("%s firewall %s", r.Kind, r.Name()) }

func (r Rule) check() error {
	switch {
	case r.Kind != Windows && r.Kind != HyperV:
		return fmt.Errorf("unknown firewall %q", string(r.Kind))
	case r.Protocol != backend.TCP && r.Protocol != backend.UDP:
		return fmt.Errorf("protocol %q: %w", string(r.Protocol), backend.ErrUnsupported)
	case r.Port == 0:
		return fmt.Errorf("port 0")
	}
	return nil
}

// ParseName reads a rule name wslfwd makes. Anything else, including
// other names that start with Prefix, is not wslfwd's to change.
func ParseName(kind Kind, name string) (Rule, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return Rule{}, false
	}
	proto, portText, ok := strings.Cut(rest, "/")
	if !ok {
		return Rule{}, false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	r := Rule{Kind: kind, Protocol: backend.Protocol(proto), Port: uint16(port)}
	if err != nil || r.check() != nil || r.Name() != name {
		return Rule{}, false
	}
	return r, true
}

// upper is the protocol as netsh and PowerShell spell it.
func upper(p backend.Protocol) string { return strings.ToUpper(string(p)) }

// DefaultProfiles are the firewall profiles port rules apply in when New
// is given none: Private and Domain, never Public, so a laptop on a
// public network exposes nothing to it.
var DefaultProfiles = []string{"private", "domain"}

// netshAdd and netshDelete render `netsh -f` script lines. The name needs
// quotes for its space; it never holds a quote itself (see check).
// profiles are netsh's words (private, domain, public).
func netshAdd(r Rule, profiles []string) string {
	return fmt.Sprintf(`advfirewall firewall add rule name="%s" dir=in action=allow protocol=%s localport=%d profile=%s`,
		r.Name(), upper(r.Protocol), r.Port, strings.Join(profiles, ","))
}

// netshDelete deletes every rule of the display name, selecting by name
// alone: a rule of wslfwd's name whose direction, protocol or port was
// changed by hand is wslfwd's still (the listing shows it), and a filter
// on what it was made with would miss it.
func netshDelete(name string) string {
	return fmt.Sprintf(`advfirewall firewall delete rule name="%s"`, name)
}

// psAdd and psDelete render PowerShell lines for the Hyper-V firewall. Each
// runs on its own so one failure does not stop the rest; the read-back
// judges them.
// -Profiles takes the names comma-separated without spaces (the cmdlet's
// reference), capitalised as its enumeration spells them.
func psAdd(r Rule, profiles []string) string {
	ps := make([]string, len(profiles))
	for i, p := range profiles {
		ps[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return fmt.Sprintf(`try { New-NetFirewallHyperVRule -Name '%[1]s' -DisplayName '%[1]s' -Direction Inbound -VMCreatorId '%[2]s' -Protocol %[3]s -LocalPorts %[4]d -Action Allow -Profiles %[5]s | Out-Null } catch { Write-Output $_.Exception.Message }`,
		r.Name(), WSLVMCreatorID, upper(r.Protocol), r.Port, strings.Join(ps, ","))
}

func psDelete(r Rule) string {
	return fmt.Sprintf(`try { Remove-NetFirewallHyperVRule -Name '%s' } catch { Write-Output $_.Exception.Message }`, r.Name())
}

// RulesFor returns the rules that let clients reach the forwards' listen
// ports in the firewall k (Windows for NAT mode and WSL1, HyperV for
// mirrored mode): one per protocol and port, in a stable order.
func RulesFor(k Kind, forwards []backend.Entry) []Rule {
	seen := make(map[Rule]bool)
	var out []Rule
	for _, e := range forwards {
		r := Rule{Kind: k, Protocol: e.Protocol, Port: e.Listen.Port()}
		if !seen[r] && r.check() == nil {
			seen[r] = true
			out = append(out, r)
		}
	}
	sortRules(out)
	return out
}
