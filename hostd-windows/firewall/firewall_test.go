package firewall

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// fakeShell is both firewalls in memory, driven by the rendered commands
// as netsh and PowerShell would run them, and stricter than Windows where
// Windows is undocumented: a `netsh -f` script stops at its first failing
// line; deleting an absent rule fails; -Name takes no wildcard (the
// cmdlets' reference); a listing can fail, and a filtered one that matches
// nothing fails with ObjectNotFound; a PowerShell command line longer than
// Windows allows cannot be started. Windows Firewall allows two rules of
// one name, and so does the fake.
//
// Rules are kept with what decides what they let in (fakeRule), and
// listed as listScript's lines, so tests can disable or alter a rule as a
// user or a hardening tool would (alter), and a listing that printed
// names alone would not see it.
type fakeShell struct {
	rules     map[Kind][]*fakeRule // firewall -> rules, in order made
	made      int                  // rules made, for the next Windows rule's Name
	ran       []string
	broken    bool                   // commands "succeed" and change nothing
	listFails bool                   // every listing fails
	noHyperV  bool                   // a Windows without the Hyper-V firewall cmdlets
	refuse    func(line string) bool // lines the firewall refuses
	// mangle changes every rule as it is made: a hardening tool or a
	// policy that disables what is added.
	mangle   func(*fakeRule)
	localOff []string        // profiles whose local rules Group Policy ignores
	audit    map[Kind]string // what an audit listing of the firewall prints
	// strayNotFound says which listings, filtered or not, fail with an
	// ObjectNotFound that is no "nothing matches".
	strayNotFound func(filtered bool) bool
}

// fakeRule is a rule with its values as the cmdlets print them.
type fakeRule struct {
	name, display              string
	enabled, direction, action string
	protocol, ports, profiles  string
	localAddr, vmCreator       string
}

func newFakeShell() *fakeShell {
	return &fakeShell{rules: map[Kind][]*fakeRule{}}
}

var (
	netshRule = regexp.MustCompile(`^advfirewall firewall (add|delete|set) rule name="([^"]*)"(.*)$`)
	// set rule's changes: new name="..." and new enable=yes|no only.
	netshSet = regexp.MustCompile(`^ new (?:name="([^"]*)"|enable=(yes|no))$`)
	psRule   = regexp.MustCompile(`^try \{ (New|Remove)-NetFirewallHyperVRule -Name '([^']*)'(.*?)( \| Out-Null)? \} catch`)
	psParam  = regexp.MustCompile(` -(\w+) ('[^']*'|\S+)`)
	psList   = regexp.MustCompile(`Get-NetFirewall(HyperV)?Rule -(Name|DisplayName) '([^']*)'`)
	// A listing without a filter, selecting by display name.
	psListAll = regexp.MustCompile(`Get-NetFirewall(?:HyperV)?Rule \| Where-Object \{ \$_\.DisplayName -like '([^']*)' \}`)
)

// printedProfiles prints netsh's or the cmdlet's profile list as the
// Profile enum does: "Any" for none or all three, else "Domain, Private".
func printedProfiles(list string) string {
	var out []string
	for _, p := range []string{"Domain", "Private", "Public"} {
		if slices.ContainsFunc(strings.Split(list, ","), func(s string) bool { return strings.EqualFold(s, p) }) {
			out = append(out, p)
		}
	}
	if len(out) == 0 || len(out) == 3 {
		return "Any"
	}
	return strings.Join(out, ", ")
}

// netshParams reads an add line's key=value words after the name.
func netshParams(rest string) map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(w, "="); ok {
			m[k] = v
		}
	}
	return m
}

func orAny(s string) string {
	if s == "" {
		return "Any"
	}
	return s
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

// add makes a rule, as the firewall would, and mangles it.
func (s *fakeShell) add(k Kind, r *fakeRule) {
	s.made++
	if s.mangle != nil {
		s.mangle(r)
	}
	s.rules[k] = append(s.rules[k], r)
}

func (s *fakeShell) Netsh(_ context.Context, script string) ([]byte, error) {
	s.ran = append(s.ran, "netsh: "+script)
	for _, line := range strings.Split(strings.TrimSpace(script), "\r\n") {
		m := netshRule.FindStringSubmatch(line)
		switch {
		case m == nil:
			return []byte("The syntax supplied for this command is not valid."), nil
		case s.refuse != nil && s.refuse(line):
			return []byte("The parameter is incorrect."), nil
		case s.broken:
		case m[1] == "add":
			p := netshParams(m[3])
			enabled := "True"
			if p["enable"] == "no" {
				enabled = "False"
			}
			s.add(Windows, &fakeRule{name: fmt.Sprintf("{%08d-0000-0000-0000-000000000000}", s.made), display: m[2],
				enabled: enabled, direction: map[string]string{"in": "Inbound", "out": "Outbound"}[p["dir"]],
				action: title(p["action"]), protocol: strings.ToUpper(orAny(p["protocol"])), ports: orAny(p["localport"]),
				profiles: printedProfiles(p["profile"]), localAddr: orAny(p["localip"])})
		case m[1] == "set":
			if out, ok := s.set(m[2], m[3]); !ok {
				return out, nil
			}
		case strings.TrimSpace(m[3]) != "":
			return []byte("A delete filter the fake does not know: " + m[3]), nil
		case s.count(Windows, m[2]) == 0:
			return []byte("No rules match the specified criteria."), nil
		default:
			s.rules[Windows] = slices.DeleteFunc(s.rules[Windows], func(r *fakeRule) bool { return r.display == m[2] })
		}
	}
	return []byte("Ok.\r\n"), nil
}

// set runs `set rule name="<name>" new ...` on every rule of the name;
// false, with netsh's words, when none has it or the change is not one
// the fake knows.
func (s *fakeShell) set(name, change string) ([]byte, bool) {
	c := netshSet.FindStringSubmatch(change)
	switch {
	case c == nil:
		return []byte("A change the fake does not know: " + change), false
	case s.count(Windows, name) == 0:
		return []byte("No rules match the specified criteria."), false
	}
	for _, r := range s.rules[Windows] {
		switch {
		case r.display != name:
		case c[1] != "":
			r.display = c[1]
		default:
			r.enabled = map[string]string{"yes": "True", "no": "False"}[c[2]]
		}
	}
	return nil, true
}

// psCommandLine is how long the command line running script is.
func psCommandLine(script string) int {
	n := len(utf16.Encode([]rune(script)))
	return len(`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand `) +
		base64.StdEncoding.EncodedLen(2*n)
}

func (s *fakeShell) PowerShell(_ context.Context, script string) ([]byte, error) {
	s.ran = append(s.ran, "ps: "+script)
	if psCommandLine(script) >= 32767 {
		return nil, errors.New("fork/exec powershell.exe: The filename or extension is too long.")
	}
	if strings.Contains(script, "Get-NetConnectionProfile") {
		k := Windows
		if strings.Contains(script, "HyperV") {
			k = HyperV
		}
		out, ok := s.audit[k]
		if !ok {
			return []byte("Access is denied.\r\n(powershell.exe exit status 1)"), nil
		}
		return []byte(out), nil
	}
	if m := psList.FindStringSubmatch(script); m != nil {
		return s.psList(script, m), nil
	}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(script), "\r\n") {
		m := psRule.FindStringSubmatch(line)
		exists := m != nil && slices.ContainsFunc(s.rules[HyperV], func(r *fakeRule) bool { return strings.EqualFold(r.name, m[2]) })
		switch {
		case m == nil:
			return []byte("unexpected line\r\n(powershell.exe exit status 1)"), nil
		case s.noHyperV:
			out.WriteString("The term '" + m[1] + "-NetFirewallHyperVRule' is not recognized as the name of a cmdlet.\r\n")
		case s.refuse != nil && s.refuse(line):
			out.WriteString("The parameter is incorrect.\r\n")
		case s.broken:
		case m[1] == "New" && exists:
			out.WriteString("Cannot create a file when that file already exists.\r\n")
		case m[1] == "New":
			p := map[string]string{}
			for _, pm := range psParam.FindAllStringSubmatch(m[3], -1) {
				p[pm[1]] = strings.Trim(pm[2], "'")
			}
			s.add(HyperV, &fakeRule{name: m[2], display: p["DisplayName"], enabled: "True", direction: p["Direction"],
				action: p["Action"], protocol: p["Protocol"], ports: p["LocalPorts"], profiles: printedProfiles(p["Profiles"]),
				vmCreator: p["VMCreatorId"]})
		case strings.TrimSpace(m[3]) != "":
			out.WriteString("A parameter the fake does not know: " + m[3] + "\r\n")
		case !exists:
			out.WriteString("No MSFT_NetFirewallHyperVRule objects found with property 'Name' equal to '" + m[2] + "'.\r\n")
		default:
			s.rules[HyperV] = slices.DeleteFunc(s.rules[HyperV], func(r *fakeRule) bool { return strings.EqualFold(r.name, m[2]) })
		}
	}
	return []byte(out.String()), nil
}

// psList runs a listing. A catch swallows the filtered listing's error
// when it says so: a missing cmdlet by its FullyQualifiedErrorId; of
// ObjectNotFound, the catch's listing without a filter runs, and nothing
// catches its error. Any other error stops the script.
func (s *fakeShell) psList(script string, m []string) []byte {
	k := Windows
	if m[1] == "HyperV" {
		k = HyperV
	}
	rules, err := s.get(k, m[2], m[3])
	if err != nil {
		all := psListAll.FindStringSubmatch(script)
		switch {
		case err.id == "CommandNotFoundException" && strings.Contains(script, "$_.FullyQualifiedErrorId -eq 'CommandNotFoundException'"):
			rules, err = nil, nil
		case err.category == "ObjectNotFound" && all != nil:
			if rules, err = s.get(k, "", ""); err == nil {
				re := displayNamePattern(all[1])
				rules = slices.DeleteFunc(rules, func(r *fakeRule) bool { return !re.MatchString(r.display) })
			}
		}
	}
	if err != nil {
		return []byte(err.msg + "\r\n(powershell.exe exit status 1)")
	}
	var out strings.Builder
	clean := strings.NewReplacer("|", "?", "\r", "?", "\n", "?")
	for _, r := range rules {
		fmt.Fprintf(&out, "rule|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\r\n", r.enabled, r.direction, r.action, r.protocol, r.ports,
			r.profiles, r.localAddr, r.vmCreator, clean.Replace(r.name), clean.Replace(r.display))
	}
	if k == Windows && strings.Contains(script, "AllowLocalFirewallRules -eq 'False'") {
		for _, p := range s.localOff {
			out.WriteString("nolocal|" + p + "\r\n")
		}
	}
	if strings.Contains(script, "'"+listDone+"'") {
		out.WriteString(listDone + "\r\n")
	}
	return []byte(out.String())
}

// psError is a PowerShell error: its message, category and
// FullyQualifiedErrorId.
type psError struct{ msg, category, id string }

// get lists the rules in the firewall k whose param (Name, DisplayName,
// or "" for no filter) matches value: -DisplayName with wildcards, -Name
// literally. A filter that matches nothing fails with ObjectNotFound,
// wildcard or not (the strict reading).
func (s *fakeShell) get(k Kind, param, value string) ([]*fakeRule, *psError) {
	switch {
	case k == HyperV && s.noHyperV:
		return nil, &psError{"The term 'Get-NetFirewallHyperVRule' is not recognized as the name of a cmdlet.", "ObjectNotFound", "CommandNotFoundException"}
	case s.listFails:
		return nil, &psError{"Access is denied.", "PermissionDenied", ""}
	case s.strayNotFound != nil && s.strayNotFound(param != ""):
		return nil, &psError{"The system cannot find the file specified.", "ObjectNotFound", ""}
	case param == "":
		return slices.Clone(s.rules[k]), nil
	}
	var out []*fakeRule
	for _, r := range s.rules[k] {
		if (param == "Name" && strings.EqualFold(r.name, value)) || (param == "DisplayName" && displayNamePattern(value).MatchString(r.display)) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, &psError{"No matching MSFT_NetFirewallRule objects found.", "ObjectNotFound", ""}
	}
	return out, nil
}

// displayNamePattern matches as a wildcard pattern with * does, without
// regard to case.
func displayNamePattern(p string) *regexp.Regexp {
	return regexp.MustCompile("(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
}

// names is the display names of the firewall's rules, sorted.
func (s *fakeShell) names(k Kind) []string {
	var out []string
	for _, r := range s.rules[k] {
		out = append(out, r.display)
	}
	slices.Sort(out)
	return out
}

// count is how many rules of the firewall carry the display name.
func (s *fakeShell) count(k Kind, display string) int {
	n := 0
	for _, r := range s.rules[k] {
		if r.display == display {
			n++
		}
	}
	return n
}

// put adds rules of these display names as a user would (Name and
// DisplayName alike), enabled inbound Allow rules of every profile; a
// name of wslfwd's gets its protocol and port.
func (s *fakeShell) put(k Kind, displays ...string) {
	for _, d := range displays {
		r := &fakeRule{name: d, display: d, enabled: "True", direction: "Inbound", action: "Allow", protocol: "Any",
			ports: "Any", profiles: "Any"}
		if own, ok := ParseName(k, d); ok {
			r.protocol, r.ports = upper(own.Protocol), fmt.Sprint(own.Port)
		}
		if k == HyperV {
			r.vmCreator = WSLVMCreatorID
		} else {
			r.localAddr = "Any"
		}
		s.rules[k] = append(s.rules[k], r)
	}
}

// alter changes every rule of the display name, as a user or a hardening
// tool would; it fails the test when there is none.
func (s *fakeShell) alter(t *testing.T, k Kind, display string, change func(*fakeRule)) {
	t.Helper()
	if s.count(k, display) == 0 {
		t.Fatalf("no %s rule %q to alter", k, display)
	}
	for _, r := range s.rules[k] {
		if r.display == display {
			change(r)
		}
	}
}

// rule is the one rule of the display name; it fails the test unless
// there is exactly one.
func (s *fakeShell) rule(t *testing.T, k Kind, display string) fakeRule {
	t.Helper()
	if n := s.count(k, display); n != 1 {
		t.Fatalf("%d %s rules %q, want 1", n, k, display)
	}
	for _, r := range s.rules[k] {
		if r.display == display {
			return *r
		}
	}
	panic("unreachable")
}

func TestRender(t *testing.T) {
	tcp8080 := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp53 := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	tests := []struct{ got, want string }{
		{tcp8080.Name(), "wslfwd tcp/8080"},
		{udp53.Name(), "wslfwd udp/53"},
		{netshAdd(tcp8080, DefaultProfiles), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=allow protocol=TCP localport=8080 profile=private,domain`},
		{netshAdd(tcp8080, []string{"public"}), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=allow protocol=TCP localport=8080 profile=public`},
		{netshDelete(tcp8080.Name()), `advfirewall firewall delete rule name="wslfwd tcp/8080"`},
		{psAdd(udp53, DefaultProfiles), `try { New-NetFirewallHyperVRule -Name 'wslfwd udp/53' -DisplayName 'wslfwd udp/53' -Direction Inbound -VMCreatorId '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}' -Protocol UDP -LocalPorts 53 -Action Allow -Profiles Private,Domain | Out-Null } catch { Write-Output $_.Exception.Message }`},
		{psDelete(udp53), `try { Remove-NetFirewallHyperVRule -Name 'wslfwd udp/53' } catch { Write-Output $_.Exception.Message }`},
		{Script(Windows, []Rule{tcp8080}, []Rule{{Kind: Windows, Protocol: backend.UDP, Port: 9}}, []string{"domain"}),
			`advfirewall firewall delete rule name="wslfwd udp/9"` + "\r\n" + netshAdd(tcp8080, []string{"domain"}) + "\r\n"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got\n%s\nwant\n%s", tt.got, tt.want)
		}
	}
}

func TestParseName(t *testing.T) {
	for name, want := range map[string]bool{
		"wslfwd tcp/8080":   true,
		"wslfwd udp/53":     true,
		"wslfwd tcp/65535":  true,
		"wslfwd tcp/0":      false,
		"wslfwd tcp/080":    false,
		"wslfwd tcp/65536":  false,
		"wslfwd sctp/80":    false,
		"wslfwd TCP/80":     false,
		"wslfwd tcp/80 ":    false,
		"wslfwd daemon":     false,
		"wslfwd  tcp/80":    false,
		"wslfwdtcp/80":      false,
		"My rule tcp/80":    false,
		"wslfwd tcp/80/udp": false,
	} {
		r, ok := ParseName(Windows, name)
		if ok != want {
			t.Errorf("ParseName(%q) = %v, %v; want ok=%v", name, r, ok, want)
		}
		if ok && r.Name() != name {
			t.Errorf("ParseName(%q) = %v, whose name is %q", name, r, r.Name())
		}
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("wslfwd tcp/8080")
	f.Add("wslfwd udp/053")
	f.Add("wslfwd daemon (gRPC from WSL)")
	f.Fuzz(func(t *testing.T, name string) {
		r, ok := ParseName(HyperV, name)
		if !ok {
			return
		}
		if r.Name() != name || r.check() != nil || strings.ContainsAny(name, `"'`) {
			t.Fatalf("ParseName(%q) = %+v", name, r)
		}
	})
}

func TestSync(t *testing.T) {
	shell := newFakeShell()
	// Rules wslfwd must never touch: a user's, the daemon's own, odd names.
	foreign := []string{"My web server", "wslfwd daemon (gRPC from WSL)", "wslfwd tcp/080"}
	for _, n := range foreign {
		shell.put(Windows, n)
		shell.put(HyperV, n)
	}
	fw := New(shell, nil)
	ctx := t.Context()
	want := []Rule{
		{Kind: Windows, Protocol: backend.TCP, Port: 8080},
		{Kind: Windows, Protocol: backend.TCP, Port: 22},
		{Kind: HyperV, Protocol: backend.UDP, Port: 53},
	}
	if err := fw.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	wantNames := func(k Kind, own ...string) []string {
		out := append(slices.Clone(foreign), own...)
		slices.Sort(out)
		return out
	}
	if got := shell.names(Windows); !slices.Equal(got, wantNames(Windows, "wslfwd tcp/22", "wslfwd tcp/8080")) {
		t.Errorf("windows rules = %q", got)
	}
	if got := shell.names(HyperV); !slices.Equal(got, wantNames(HyperV, "wslfwd udp/53")) {
		t.Errorf("hyper-v rules = %q", got)
	}

	// Steady state: only listing.
	shell.ran = nil
	if err := fw.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	for _, r := range shell.ran {
		if !strings.HasPrefix(r, "ps: ") || !strings.Contains(r, "Get-NetFirewall") {
			t.Errorf("a sync with nothing to do ran %q", r)
		}
	}

	// Down to one rule, and then none: only wslfwd's go.
	if err := fw.Sync(ctx, want[1:2]); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, wantNames(Windows, "wslfwd tcp/22")) {
		t.Errorf("windows rules = %q", got)
	}
	if err := fw.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []Kind{Windows, HyperV} {
		if got := shell.names(k); !slices.Equal(got, wantNames(k)) {
			t.Errorf("%s rules = %q, want only the foreign ones", k, got)
		}
	}
}

// Port rules apply in the profiles asked for, Private and Domain unless
// told otherwise, never in every profile (Public included) by omission.
func TestSyncProfiles(t *testing.T) {
	tcp := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	for _, tc := range []struct {
		profiles []string
		want     string
	}{
		{nil, "Domain, Private"},
		{[]string{"domain"}, "Domain"},
		{[]string{"private", "public"}, "Private, Public"},
	} {
		shell := newFakeShell()
		if err := New(shell, nil, tc.profiles...).Sync(t.Context(), []Rule{tcp, udp}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []Rule{tcp, udp} {
			if got := shell.rule(t, r.Kind, r.Name()).profiles; got != tc.want {
				t.Errorf("New(%q): %v made in profiles %q, want %q", tc.profiles, r, got, tc.want)
			}
		}
	}
}

func TestSyncReadBack(t *testing.T) {
	shell := newFakeShell()
	shell.broken = true
	fw := New(shell, nil)
	r := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	err := fw.Sync(t.Context(), []Rule{r})
	if err == nil || !strings.Contains(err.Error(), "not found when read back") || !strings.Contains(err.Error(), "Ok.") {
		t.Fatalf("Sync with a firewall that ignores commands = %v, want a read-back error with the output", err)
	}
}

func TestSyncRefusesBadRules(t *testing.T) {
	shell := newFakeShell()
	fw := New(shell, nil)
	good := Rule{Kind: Windows, Protocol: backend.TCP, Port: 80}
	err := fw.Sync(t.Context(), []Rule{
		{Kind: Windows, Protocol: "sctp", Port: 80},
		{Kind: Windows, Protocol: backend.TCP},
		{Kind: "other", Protocol: backend.TCP, Port: 80},
		good,
	})
	if err == nil || !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("Sync = %v, want errors for the bad rules", err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{good.Name()}) {
		t.Errorf("rules = %q: the good rule must still be made", got)
	}
}

func TestDaemonRuleScript(t *testing.T) {
	got, err := daemonRuleScript(DaemonRuleName, netip.MustParseAddr("172.28.240.1"), 17810)
	if err != nil {
		t.Fatal(err)
	}
	want := `advfirewall firewall add rule name="wslfwd daemon (gRPC from WSL)" dir=in action=allow protocol=TCP localport=17810 localip=172.28.240.1`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, name := range []string{DaemonRuleName, DaemonRuleNext} {
		if _, ok := ParseName(Windows, name); ok {
			t.Errorf("%q parses as a port rule: Sync would delete it", name)
		}
	}
	for _, bad := range []netip.Addr{{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("fe80::1%eth0")} {
		if _, err := daemonRuleScript(DaemonRuleName, bad, 17810); err == nil {
			t.Errorf("daemonRuleScript(%v) succeeded", bad)
		}
	}
	if _, err := daemonRuleScript(DaemonRuleName, netip.MustParseAddr("172.28.240.1"), 0); err == nil {
		t.Error("daemonRuleScript with port 0 succeeded")
	}
}

// daemonRuleFor is the daemon's rule as listed, for addr and port 17810.
func daemonRuleFor(addr string) fakeRule {
	return fakeRule{enabled: "True", direction: "Inbound", action: "Allow", protocol: "TCP", ports: "17810",
		profiles: "Any", localAddr: addr}
}

func TestDaemonRule(t *testing.T) {
	shell := newFakeShell()
	shell.put(Windows, "wslfwd tcp/80")
	fw := New(shell, nil)
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName, "wslfwd tcp/80"}) {
		t.Fatalf("rules = %q", got)
	}
	// The same address again: nothing to change, only the listing runs.
	ran := len(shell.ran)
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range shell.ran[ran:] {
		if strings.HasPrefix(cmd, "netsh: ") {
			t.Errorf("SetDaemonRule with its rule as wanted ran %q", cmd)
		}
	}
	// A new address: still exactly one daemon rule, for it.
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.9"), 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.rule(t, Windows, DaemonRuleName); !sameShape(got, daemonRuleFor("172.28.240.9")) {
		t.Fatalf("daemon rule after a second SetDaemonRule = %+v", got)
	}
	// Port rules come and go; the daemon's rule stays.
	if err := fw.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName}) {
		t.Fatalf("rules after Sync(nil) = %q", got)
	}
	if err := fw.RemoveDaemonRule(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); len(got) != 0 {
		t.Fatalf("rules = %q", got)
	}
	shell.broken = true
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err == nil {
		t.Fatal("SetDaemonRule succeeded though the rule never appeared")
	}
}

// A daemon rule disabled, set to Block, or opened to every local address
// by hand is remade: agents cannot reach the daemon through it, or the
// LAN can.
func TestDaemonRuleRemadeWhenAltered(t *testing.T) {
	for what, change := range map[string]func(*fakeRule){
		"disabled":         func(r *fakeRule) { r.enabled = "False" },
		"set to block":     func(r *fakeRule) { r.action = "Block" },
		"on every address": func(r *fakeRule) { r.localAddr = "Any" },
	} {
		shell := newFakeShell()
		fw := New(shell, nil)
		addr := netip.MustParseAddr("172.28.240.1")
		if err := fw.SetDaemonRule(t.Context(), addr, 17810); err != nil {
			t.Fatal(err)
		}
		shell.alter(t, Windows, DaemonRuleName, change)
		if err := fw.SetDaemonRule(t.Context(), addr, 17810); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := shell.rule(t, Windows, DaemonRuleName); !sameShape(got, daemonRuleFor("172.28.240.1")) {
			t.Errorf("%s: daemon rule = %+v, want it remade", what, got)
		}
	}
}

// Replacing the daemon's rule never leaves agents without one: the new
// rule is added and read back before the old one goes, so a refused add
// keeps the old rule; a refused rename keeps the new rule, under its
// interim name, and the next call finishes.
func TestDaemonRuleReplacedSafely(t *testing.T) {
	old, next := netip.MustParseAddr("172.28.240.1"), netip.MustParseAddr("172.28.240.9")
	shell := newFakeShell()
	fw := New(shell, nil)
	if err := fw.SetDaemonRule(t.Context(), old, 17810); err != nil {
		t.Fatal(err)
	}
	shell.refuse = func(line string) bool { return strings.Contains(line, "add rule") }
	if err := fw.SetDaemonRule(t.Context(), next, 17810); err == nil || !strings.Contains(err.Error(), "old rule is kept") {
		t.Fatalf("SetDaemonRule with the add refused = %v", err)
	}
	if got := shell.rule(t, Windows, DaemonRuleName); !sameShape(got, daemonRuleFor("172.28.240.1")) {
		t.Fatalf("the old rule after a refused add = %+v, want it kept", got)
	}

	shell.refuse = func(line string) bool { return strings.Contains(line, "set rule") }
	if err := fw.SetDaemonRule(t.Context(), next, 17810); err == nil {
		t.Fatal("SetDaemonRule with the rename refused succeeded")
	}
	if got := shell.rule(t, Windows, DaemonRuleNext); !sameShape(got, daemonRuleFor("172.28.240.9")) {
		t.Fatalf("the new rule after a refused rename = %+v, want it kept", got)
	}

	shell.refuse = nil
	if err := fw.SetDaemonRule(t.Context(), next, 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName}) {
		t.Fatalf("rules = %q, want the daemon's alone", got)
	}
	if got := shell.rule(t, Windows, DaemonRuleName); !sameShape(got, daemonRuleFor("172.28.240.9")) {
		t.Fatalf("daemon rule = %+v", got)
	}
}

func TestRulesFor(t *testing.T) {
	e := func(p backend.Protocol, listen string) backend.Entry {
		return backend.Entry{Protocol: p, Listen: netip.MustParseAddrPort(listen), Connect: netip.MustParseAddrPort("172.28.240.53:1")}
	}
	got := RulesFor(Windows, []backend.Entry{
		e(backend.TCP, "0.0.0.0:8080"),
		e(backend.TCP, "[::]:8080"), // same port, both families: one rule
		e(backend.UDP, "0.0.0.0:53"),
		e(backend.TCP, "0.0.0.0:22"),
	})
	var names []string
	for _, r := range got {
		if r.Kind != Windows {
			t.Errorf("rule %v in the wrong firewall", r)
		}
		names = append(names, r.Name())
	}
	if want := []string{"wslfwd tcp/22", "wslfwd tcp/8080", "wslfwd udp/53"}; !slices.Equal(names, want) {
		t.Errorf("RulesFor = %q, want %q", names, want)
	}
	if got := RulesFor(HyperV, nil); len(got) != 0 {
		t.Errorf("RulesFor(nil) = %v", got)
	}
}

// TestDaemonRuleDeleteRefused: when the old rule cannot be deleted, the
// new one stays beside it and the error says so; two rules, one of them
// stale, never read as success.
func TestDaemonRuleDeleteRefused(t *testing.T) {
	shell := newFakeShell()
	shell.put(Windows, DaemonRuleName)
	shell.refuse = func(line string) bool { return strings.Contains(line, "delete rule") }
	fw := New(shell, nil)
	err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810)
	if err == nil || !strings.Contains(err.Error(), "still there") {
		t.Fatalf("SetDaemonRule = %v, want the new rule reported still under its interim name", err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName, DaemonRuleNext}) {
		t.Fatalf("rules = %q", got)
	}
}

// TestSyncNetshStopsAtFailingLine: one rule the firewall refuses must not
// keep the others from being made, nor the stale ones from going.
func TestSyncNetshStopsAtFailingLine(t *testing.T) {
	shell := newFakeShell()
	shell.put(Windows, "wslfwd tcp/1", "wslfwd tcp/2")
	shell.refuse = func(line string) bool { return strings.Contains(line, `"wslfwd tcp/10"`) }
	fw := New(shell, nil)
	want := []Rule{{Kind: Windows, Protocol: backend.TCP, Port: 10}, {Kind: Windows, Protocol: backend.TCP, Port: 11}, {Kind: Windows, Protocol: backend.TCP, Port: 12}}
	err := fw.Sync(t.Context(), want)
	if err == nil || !strings.Contains(err.Error(), "wslfwd tcp/10: not found") || strings.Contains(err.Error(), "tcp/11") {
		t.Fatalf("Sync = %v, want only the refused rule reported", err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{"wslfwd tcp/11", "wslfwd tcp/12"}) {
		t.Fatalf("rules = %q", got)
	}
}

// TestSyncFindsOwnHyperVRules: -Name takes no wildcard, so rules must be
// found by display name, or they are never removed.
func TestSyncFindsOwnHyperVRules(t *testing.T) {
	shell := newFakeShell()
	shell.put(HyperV, "wslfwd udp/53", "My rule")
	fw := New(shell, nil)
	if err := fw.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(HyperV); !slices.Equal(got, []string{"My rule"}) {
		t.Fatalf("hyper-v rules = %q, want wslfwd's removed", got)
	}
	if err := fw.Sync(t.Context(), []Rule{{Kind: HyperV, Protocol: backend.TCP, Port: 80}}); err != nil {
		t.Fatal(err)
	}
	if err := fw.Sync(t.Context(), []Rule{{Kind: HyperV, Protocol: backend.TCP, Port: 80}}); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(HyperV); !slices.Equal(got, []string{"My rule", "wslfwd tcp/80"}) {
		t.Fatalf("hyper-v rules = %q, want one rule after two syncs", got)
	}
}

// TestSyncListingFails: a listing that fails is an error, never "no
// rules": nothing is added or removed on its word.
func TestSyncListingFails(t *testing.T) {
	for _, k := range []Kind{Windows, HyperV} {
		shell := newFakeShell()
		shell.listFails = true
		fw := New(shell, nil)
		err := fw.Sync(t.Context(), []Rule{{Kind: k, Protocol: backend.TCP, Port: 80}})
		if err == nil || !strings.Contains(err.Error(), "Access is denied") {
			t.Errorf("%s: Sync = %v, want the listing's failure", k, err)
		}
		for _, r := range shell.ran {
			if !strings.Contains(r, "Get-NetFirewall") {
				t.Errorf("%s: ran %q on a failed listing", k, r)
			}
		}
		if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err == nil {
			t.Errorf("%s: SetDaemonRule succeeded with a failing listing", k)
		}
	}
	// With no rules wanted too: wslfwd's stale rules may be there.
	shell := newFakeShell()
	shell.listFails = true
	if err := New(shell, nil).Sync(t.Context(), nil); err == nil {
		t.Error("Sync(nil) with failing listings succeeded")
	}
}

// TestSyncWithoutHyperVFirewall: before Windows 11 22H2 there are no
// Hyper-V firewall cmdlets: no Hyper-V rules, not a failed listing; a
// Hyper-V rule wanted there fails in words.
func TestSyncWithoutHyperVFirewall(t *testing.T) {
	shell := newFakeShell()
	shell.noHyperV = true
	fw := New(shell, nil)
	win := Rule{Kind: Windows, Protocol: backend.TCP, Port: 80}
	if err := fw.Sync(t.Context(), []Rule{win}); err != nil {
		t.Fatal(err)
	}
	err := fw.Sync(t.Context(), []Rule{win, {Kind: HyperV, Protocol: backend.TCP, Port: 81}})
	if err == nil || !strings.Contains(err.Error(), "not recognized") {
		t.Fatalf("Sync of a Hyper-V rule without the Hyper-V firewall = %v", err)
	}
}

// TestListingStrayNotFound: an ObjectNotFound of the filtered listing
// that is no "nothing matches" does not read as "no rules": the rules
// listed without the filter are the ones there, and a Sync that wants
// them adds none again.
func TestListingStrayNotFound(t *testing.T) {
	shell := newFakeShell()
	shell.put(Windows, "wslfwd tcp/80", "My rule")
	shell.put(HyperV, "wslfwd udp/53")
	shell.strayNotFound = func(filtered bool) bool { return filtered }
	fw := New(shell, nil)
	want := []Rule{{Kind: HyperV, Protocol: backend.UDP, Port: 53}, {Kind: Windows, Protocol: backend.TCP, Port: 80}}
	if got, err := fw.Rules(t.Context()); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Rules = %v, %v; want %v", got, err, want)
	}
	if err := fw.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	for _, r := range want {
		if n := shell.count(r.Kind, r.Name()); n != 1 {
			t.Errorf("%v: %d rules of its name after Sync, want 1", r, n)
		}
	}
}

// TestListingFallbackFails: when the listing without a filter fails too,
// with ObjectNotFound even, the listing fails, never reads as "no rules",
// and Sync changes nothing on its word.
func TestListingFallbackFails(t *testing.T) {
	shell := newFakeShell()
	shell.put(Windows, "wslfwd tcp/80")
	shell.put(HyperV, "wslfwd udp/53")
	shell.strayNotFound = func(bool) bool { return true }
	fw := New(shell, nil)
	for _, k := range []Kind{Windows, HyperV} {
		if got, err := fw.list(t.Context(), k); err == nil || !strings.Contains(err.Error(), "cannot find the file") {
			t.Errorf("%s: list = %v, %v; want the listing's failure", k, got, err)
		}
	}
	if err := fw.Sync(t.Context(), nil); err == nil {
		t.Error("Sync(nil) with failing listings succeeded")
	}
	for _, r := range shell.ran {
		if !strings.Contains(r, "Get-NetFirewall") {
			t.Errorf("ran %q on a failed listing", r)
		}
	}
}

// TestListingWithoutHyperVFirewall: a missing Hyper-V cmdlet, whose
// category is ObjectNotFound too, is no Hyper-V rules: not a failed
// listing, nor a reason to list again without a filter, which fails the
// same.
func TestListingWithoutHyperVFirewall(t *testing.T) {
	shell := newFakeShell()
	shell.noHyperV = true
	shell.put(Windows, "wslfwd tcp/80")
	want := []Rule{{Kind: Windows, Protocol: backend.TCP, Port: 80}}
	if got, err := New(shell, nil).Rules(t.Context()); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Rules = %v, %v; want %v", got, err, want)
	}
}

// TestSyncManyHyperVRules: PowerShell takes its script on the command
// line, which Windows caps at 32,767 characters; about 46 rules passed it.
func TestSyncManyHyperVRules(t *testing.T) {
	shell := newFakeShell()
	fw := New(shell, nil)
	var want []Rule
	for p := range uint16(300) {
		want = append(want, Rule{Kind: HyperV, Protocol: backend.TCP, Port: 1000 + p})
	}
	if err := fw.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := len(shell.names(HyperV)); got != len(want) {
		t.Fatalf("%d hyper-v rules, want %d", got, len(want))
	}
	if err := fw.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(HyperV); len(got) != 0 {
		t.Fatalf("%d hyper-v rules left", len(got))
	}
}

// made is the rule Sync makes for r in the default profiles, as listed.
func made(r Rule) fakeRule {
	m := fakeRule{enabled: "True", direction: "Inbound", action: "Allow", protocol: upper(r.Protocol), ports: fmt.Sprint(r.Port),
		profiles: "Domain, Private"}
	if r.Kind == HyperV {
		m.vmCreator = WSLVMCreatorID
	} else {
		m.localAddr = "Any"
	}
	return m
}

// sameShape compares what decides what a rule lets in, not its Name.
func sameShape(a, b fakeRule) bool {
	a.name, a.display, b.name, b.display = "", "", "", ""
	return a == b
}

// A rule of wslfwd's name that no longer lets in what it was made for
// (disabled, Block, another port, protocol, direction, profiles, address
// or VM) is remade at the next Sync of the same wanted rules: the name
// alone is no proof.
func TestSyncRemakesRulesNotAsWanted(t *testing.T) {
	for _, tc := range []struct {
		what   string
		change func(*fakeRule)
		kinds  []Kind
	}{
		{"disabled", func(r *fakeRule) { r.enabled = "False" }, []Kind{Windows, HyperV}},
		{"set to block", func(r *fakeRule) { r.action = "Block" }, []Kind{Windows, HyperV}},
		{"moved to another port", func(r *fakeRule) { r.ports = "9090" }, []Kind{Windows, HyperV}},
		{"another protocol", func(r *fakeRule) { r.protocol = "UDP" }, []Kind{Windows, HyperV}},
		{"outbound", func(r *fakeRule) { r.direction = "Outbound" }, []Kind{Windows, HyperV}},
		{"widened to public", func(r *fakeRule) { r.profiles = "Any" }, []Kind{Windows, HyperV}},
		{"narrowed to domain", func(r *fakeRule) { r.profiles = "Domain" }, []Kind{Windows, HyperV}},
		{"ports no filter printed", func(r *fakeRule) { r.ports = "" }, []Kind{Windows}},
		{"for another VM", func(r *fakeRule) { r.vmCreator = "{00000000-0000-0000-0000-000000000001}" }, []Kind{HyperV}},
	} {
		for _, k := range tc.kinds {
			t.Run(string(k)+" "+tc.what, func(t *testing.T) {
				shell := newFakeShell()
				fw := New(shell, nil)
				r := Rule{Kind: k, Protocol: backend.TCP, Port: 8080}
				if err := fw.Sync(t.Context(), []Rule{r}); err != nil {
					t.Fatal(err)
				}
				shell.alter(t, k, r.Name(), tc.change)
				if err := fw.Sync(t.Context(), []Rule{r}); err != nil {
					t.Fatalf("Sync after the rule was %s = %v", tc.what, err)
				}
				if got := shell.rule(t, k, r.Name()); !sameShape(got, made(r)) {
					t.Errorf("rule after Sync = %+v, want it remade as %+v", got, made(r))
				}
			})
		}
	}
}

// A daemon whose profiles differ from those the rules were made in (the
// user narrowed firewall_profiles) remakes them, once: the profiles are
// read back like everything else.
func TestSyncRemakesRulesMadeInOtherProfiles(t *testing.T) {
	tcp := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	shell := newFakeShell()
	if err := New(shell, nil, "private", "domain", "public").Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	narrow := New(shell, nil, "private")
	for range 2 {
		if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []Rule{tcp, udp} {
		if got := shell.rule(t, r.Kind, r.Name()).profiles; got != "Private" {
			t.Errorf("%v in profiles %q, want Private", r, got)
		}
	}
	removals := 0
	for _, cmd := range shell.ran {
		removals += strings.Count(cmd, "delete rule") + strings.Count(cmd, "Remove-NetFirewallHyperVRule")
	}
	if removals != 2 {
		t.Errorf("%d removals over two Syncs, want one per rule", removals)
	}
}

// One rule of the name set to Block blocks the port whatever the others
// allow: all are removed and one is made.
func TestSyncRemakesDuplicateBlockRule(t *testing.T) {
	shell := newFakeShell()
	fw := New(shell, nil)
	r := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	if err := fw.Sync(t.Context(), []Rule{r}); err != nil {
		t.Fatal(err)
	}
	if _, err := shell.Netsh(t.Context(), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=block protocol=TCP localport=8080`+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := fw.Sync(t.Context(), []Rule{r}); err != nil {
		t.Fatal(err)
	}
	if got := shell.rule(t, Windows, r.Name()); !sameShape(got, made(r)) {
		t.Errorf("rule = %+v, want %+v", got, made(r))
	}
}

// A rule that is still not as wanted after it was remade (a policy
// disables every rule added) is reported, with what is wrong, and Sync
// is tried again.
func TestSyncReportsRuleThatStaysWrong(t *testing.T) {
	for _, k := range []Kind{Windows, HyperV} {
		shell := newFakeShell()
		shell.mangle = func(r *fakeRule) { r.enabled = "False" }
		r := Rule{Kind: k, Protocol: backend.TCP, Port: 8080}
		err := New(shell, nil).Sync(t.Context(), []Rule{r})
		if err == nil || !strings.Contains(err.Error(), `wslfwd tcp/8080: not as wanted when read back: enabled "False"`) {
			t.Fatalf("%s: Sync with every rule disabled as made = %v, want it reported", k, err)
		}
		if !Retryable(err) {
			t.Errorf("%s: %v is not retryable", k, err)
		}
	}
}

// Group Policy that keeps local rules from taking effect in a profile the
// rules apply in is reported, as an error trying again cannot mend; in a
// profile they do not apply in it is none of wslfwd's business.
func TestSyncLocalRulesIgnored(t *testing.T) {
	r := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	shell := newFakeShell()
	shell.localOff = []string{"Domain", "Public"}
	err := New(shell, nil).Sync(t.Context(), []Rule{r})
	var ignored *LocalRulesIgnored
	if !errors.As(err, &ignored) || !slices.Equal(ignored.Profiles, []string{"Domain"}) {
		t.Fatalf("Sync under a policy ignoring local rules = %v, want LocalRulesIgnored for Domain", err)
	}
	if Retryable(err) {
		t.Errorf("%v is retryable", err)
	}
	if err := New(shell, nil, "private").Sync(t.Context(), []Rule{r}); err != nil {
		t.Errorf("Sync in the Private profile only = %v", err)
	}
	if err := New(shell, nil).Sync(t.Context(), nil); err != nil {
		t.Errorf("Sync of no rules = %v", err)
	}
	if Retryable(errors.Join(err, errors.New("access denied"))) != true {
		t.Error("a failure beside the policy is not retryable")
	}
}

// A Hyper-V rule is wslfwd's only when its Name and DisplayName are both
// wslfwd's: rules are removed by -Name, so a rule listed by its display
// name but named otherwise, or named so but shown otherwise, is a user's
// and never touched.
func TestSyncHyperVRulesOfOtherNames(t *testing.T) {
	shell := newFakeShell()
	shell.put(HyperV, "wslfwd tcp/80", "wslfwd tcp/81")
	shell.rules[HyperV][0].name = "{user-rule-1}"
	shell.rules[HyperV][1].display = "user rule"
	if err := New(shell, nil).Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(HyperV); !slices.Equal(got, []string{"user rule", "wslfwd tcp/80"}) {
		t.Errorf("hyper-v rules = %q, want both users' rules", got)
	}
	for _, cmd := range shell.ran {
		if strings.Contains(cmd, "Remove-") {
			t.Errorf("ran %q", cmd)
		}
	}
}

func TestParseRules(t *testing.T) {
	good := "rule|True|Inbound|Allow|TCP|8080|Domain, Private|Any||{1}|wslfwd tcp/8080\r\n" +
		"nolocal|Domain\r\nwslfwd-list-done\r\n"
	l, err := parseRules(good)
	want := listing{rules: []listedRule{{Enabled: "True", Direction: "Inbound", Action: "Allow", Protocol: "TCP", LocalPorts: "8080",
		Profiles: "Domain, Private", LocalAddresses: "Any", Name: "{1}", DisplayName: "wslfwd tcp/8080"}},
		localOff: []string{"Domain"}}
	if err != nil || !slices.Equal(l.rules, want.rules) || !slices.Equal(l.localOff, want.localOff) {
		t.Errorf("parseRules = %+v, %v; want %+v", l, err, want)
	}
	for _, bad := range []string{
		"rule|True|Inbound|Allow|TCP|8080|Any|Any||{1}|wslfwd tcp/8080\r\n", // no done line
		"rule|True|Inbound|Allow|TCP|8080|Any|Any|{1}|wslfwd tcp/8080\r\nwslfwd-list-done\r\n",
		"wslfwd tcp/8080\r\nwslfwd-list-done\r\n",
		"WARNING: something\r\nwslfwd-list-done\r\n",
	} {
		if l, err := parseRules(bad); err == nil {
			t.Errorf("parseRules(%q) = %+v, want an error", bad, l)
		}
	}
}
