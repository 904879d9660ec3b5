package netsh

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// ruleTags are the `add rule` parameters the stand-in knows; any other is
// a syntax error, stricter than netsh.
var ruleTags = []string{"name", "dir", "action", "protocol", "localport", "remoteport",
	"localip", "remoteip", "profile", "enable", "description", "program"}

const ruleUsage = "Usage: add rule name=<string>\r\n" +
	"      dir=in|out\r\n" +
	"      action=allow|block|bypass\r\n" +
	"      [protocol=0-255|icmpv4|icmpv6|tcp|udp|any]\r\n" +
	"      [localport=0-65535|<port range>[,...]|any]\r\n" +
	"      [localip=any|<IPv4 address>|<IPv6 address>|<subnet>|<range>|<list>]\r\n" +
	"      [profile=public|private|domain|any[,...]]\r\n"

// firewall runs `advfirewall firewall add|delete|show rule ...`.
func (t Tool) firewall(verb string, words []string) result {
	switch verb {
	case "add":
		return t.addRule(words)
	case "delete":
		return t.deleteRule(words)
	case "show":
		return t.showRule(words)
	case "set":
		return t.setRule(words)
	}
	return fail(fmt.Sprintf(msgNoCommand, "advfirewall firewall "+verb+" rule"))
}

// addRule adds a rule. Windows allows two rules of one name, and so does
// the stand-in: a caller that adds blindly ends up with duplicates.
func (t Tool) addRule(words []string) result {
	m, good := tags(words, ruleTags...)
	if !good || m["name"] == "" || strings.EqualFold(m["name"], "all") || validRule(m) != nil {
		return syntax(ruleUsage)
	}
	rules, err := t.Store.Rules(state.Windows)
	if err != nil {
		return fail(err.Error())
	}
	// Windows names every rule (Name, unique) apart from its display
	// name (netsh's name=): a GUID for rules netsh makes.
	m["id"] = newGUID()
	if err := t.Store.SetRules(state.Windows, append(rules, state.Rule(m))); err != nil {
		return fail(err.Error())
	}
	return ok("Ok.\r\n\r\n")
}

// setRule changes every rule that matches the words before `new` to the
// values after it, as `set rule name=<n> ... new enable=no` does: how a
// user or a hardening tool disables or alters a rule. None matching
// fails.
func (t Tool) setRule(words []string) result {
	at := slices.IndexFunc(words, func(w string) bool { return strings.EqualFold(w, "new") })
	if at < 0 {
		return syntax("Usage: set rule name=<string> [dir=in|out] ... new <param>=<value> ...\r\n")
	}
	sel, good := tags(words[:at], filterTags...)
	changes, goodNew := tags(words[at+1:], ruleTags...)
	if !good || !goodNew || sel["name"] == "" || len(changes) == 0 {
		return syntax("Usage: set rule name=<string> [dir=in|out] ... new <param>=<value> ...\r\n")
	}
	rules, err := t.Store.Rules(state.Windows)
	if err != nil {
		return fail(err.Error())
	}
	n := 0
	for i, r := range rules {
		if !matches(r, sel) {
			continue
		}
		changed := maps.Clone(r)
		maps.Copy(changed, changes)
		if validRule(changed) != nil {
			return syntax(ruleUsage)
		}
		rules[i], n = changed, n+1
	}
	if n == 0 {
		return fail("\r\n" + msgNoRules)
	}
	if err := t.Store.SetRules(state.Windows, rules); err != nil {
		return fail(err.Error())
	}
	return ok(fmt.Sprintf("\r\nUpdated %d rule(s).\r\nOk.\r\n\r\n", n))
}

// validRule checks the values netsh checks.
func validRule(m map[string]string) error {
	if !oneOf(m["dir"], "in", "out") || !oneOf(m["action"], "allow", "block", "bypass") {
		return fmt.Errorf("dir and action are required")
	}
	proto, hasProto := m["protocol"]
	if hasProto && !oneOf(proto, "tcp", "udp", "any", "icmpv4", "icmpv6") {
		if n, err := strconv.Atoi(proto); err != nil || n < 0 || n > 255 {
			return fmt.Errorf("protocol %q", proto)
		}
	}
	for _, k := range []string{"localport", "remoteport"} {
		if p, set := m[k]; set && (!oneOf(proto, "tcp", "udp") || !validPorts(p)) {
			return fmt.Errorf("%s %q needs protocol tcp or udp and ports", k, p)
		}
	}
	if p, set := m["profile"]; set && !validProfiles(p) {
		return fmt.Errorf("profile %q", p)
	}
	for _, k := range []string{"localip", "remoteip"} {
		if a, set := m[k]; set && !validAddrs(a) {
			return fmt.Errorf("%s %q", k, a)
		}
	}
	return nil
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if strings.EqualFold(s, o) {
			return true
		}
	}
	return false
}

// validProfiles accepts a comma list of public, private, domain and any.
func validProfiles(s string) bool {
	for _, p := range strings.Split(s, ",") {
		if !oneOf(p, "public", "private", "domain", "any") {
			return false
		}
	}
	return true
}

// validPorts accepts "any" or a comma list of ports and port ranges.
func validPorts(s string) bool {
	if strings.EqualFold(s, "any") {
		return true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || a > b {
			return false
		}
	}
	return true
}

// validAddrs accepts "any" or a comma list of addresses, subnets and
// address ranges.
func validAddrs(s string) bool {
	if strings.EqualFold(s, "any") {
		return true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if _, err := netip.ParsePrefix(lo); err == nil && !isRange {
			continue
		}
		if _, err := netip.ParseAddr(lo); err != nil {
			return false
		}
		if _, err := netip.ParseAddr(hi); isRange && err != nil {
			return false
		}
	}
	return true
}

// filterTags are the parameters `delete rule` and `show rule` select by.
var filterTags = []string{"name", "dir", "protocol", "localport", "remoteport", "localip", "remoteip", "profile", "program"}

// matches reports whether the rule has every selected value; name=all
// selects every name.
func matches(r state.Rule, sel map[string]string) bool {
	for k, v := range sel {
		if k == "name" && strings.EqualFold(v, "all") {
			continue
		}
		if !strings.EqualFold(r[k], v) {
			return false
		}
	}
	return true
}

// deleteRule deletes every rule that matches; none matching fails.
func (t Tool) deleteRule(words []string) result {
	sel, good := tags(words, filterTags...)
	if !good || sel["name"] == "" {
		return syntax("Usage: delete rule name=<string> [dir=in|out] [protocol=...] [localport=...]\r\n")
	}
	rules, err := t.Store.Rules(state.Windows)
	if err != nil {
		return fail(err.Error())
	}
	var kept []state.Rule
	for _, r := range rules {
		if !matches(r, sel) {
			kept = append(kept, r)
		}
	}
	n := len(rules) - len(kept)
	if n == 0 {
		return fail("\r\n" + msgNoRules)
	}
	if err := t.Store.SetRules(state.Windows, kept); err != nil {
		return fail(err.Error())
	}
	return ok(fmt.Sprintf("\r\nDeleted %d rule(s).\r\nOk.\r\n\r\n", n))
}

// showRule prints the matching rules in netsh's layout; none matching
// fails.
func (t Tool) showRule(words []string) result {
	sel, good := tags(words, "name", "dir", "profile")
	if !good || sel["name"] == "" {
		return syntax("Usage: show rule name=all|<string> [dir=in|out] [profile=...]\r\n")
	}
	rules, err := t.Store.Rules(state.Windows)
	if err != nil {
		return fail(err.Error())
	}
	var b strings.Builder
	n := 0
	for _, r := range rules {
		if matches(r, sel) {
			n++
			writeRule(&b, r)
		}
	}
	if n == 0 {
		return fail("\r\n" + msgNoRules)
	}
	b.WriteString("Ok.\r\n\r\n")
	return ok(b.String())
}

func writeRule(b *strings.Builder, r state.Rule) {
	or := func(k, def string) string {
		if v, set := r[k]; set {
			return v
		}
		return def
	}
	title := func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
	}
	fmt.Fprintf(b, "\r\n%-38s%s\r\n", "Rule Name:", r["name"])
	b.WriteString(strings.Repeat("-", 70) + "\r\n")
	for _, row := range [][2]string{
		{"Enabled:", title(or("enable", "yes"))},
		{"Direction:", title(r["dir"])},
		{"Profiles:", title(or("profile", "domain,private,public"))},
		{"LocalIP:", title(or("localip", "any"))},
		{"RemoteIP:", title(or("remoteip", "any"))},
		{"Protocol:", strings.ToUpper(or("protocol", "any"))},
		{"LocalPort:", title(or("localport", "any"))},
		{"RemotePort:", title(or("remoteport", "any"))},
		{"Action:", title(r["action"])},
	} {
		fmt.Fprintf(b, "%-38s%s\r\n", row[0], row[1])
	}
	b.WriteString("\r\n")
}

// newGUID is a random GUID in braces, as Windows names a rule netsh adds.
func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
