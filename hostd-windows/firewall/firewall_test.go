package firewall

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"path/filepath"
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
type fakeShell struct {
	rules     map[Kind][]string // firewall -> rule display names, in order made
	ran       []string
	broken    bool                   // commands "succeed" and change nothing
	listFails bool                   // every listing fails
	noHyperV  bool                   // a Windows without the Hyper-V firewall cmdlets
	refuse    func(line string) bool // lines the firewall refuses
	profiles  map[string]string      // rule name -> the profiles it was made in ("" for any)
	audit     map[Kind]string        // what an audit listing of the firewall prints
	// strayNotFound says which listings, filtered or not, fail with an
	// ObjectNotFound that is no "nothing matches".
	strayNotFound func(filtered bool) bool
}

func newFakeShell() *fakeShell {
	return &fakeShell{rules: map[Kind][]string{}, profiles: map[string]string{}}
}

var (
	netshRule = regexp.MustCompile(`^advfirewall firewall (add|delete) rule name="([^"]*)"`)
	psRule    = regexp.MustCompile(`^try \{ (New|Remove)-NetFirewallHyperVRule -Name '([^']*)'`)
	// A rule's profiles: netsh's profile=a,b; the cmdlet's -Profiles A,B.
	ruleProfiles = regexp.MustCompile(`(?: profile=| -Profiles )(\S+)`)
	psList       = regexp.MustCompile(`Get-NetFirewall(HyperV)?Rule -(Name|DisplayName) '([^']*)'`)
	// A listing without a filter, selecting by display name.
	psListAll = regexp.MustCompile(`Get-NetFirewall(?:HyperV)?Rule \| Where-Object \{ \$_\.DisplayName -like '([^']*)' \}`)
)

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
			s.rules[Windows] = append(s.rules[Windows], m[2])
			s.profiles[m[2]] = profilesOf(line)
		case !slices.Contains(s.rules[Windows], m[2]):
			return []byte("No rules match the specified criteria."), nil
		default:
			s.rules[Windows] = slices.DeleteFunc(s.rules[Windows], func(n string) bool { return n == m[2] })
		}
	}
	return []byte("Ok.\r\n"), nil
}

// profilesOf is the profile list of an add line, lower case; "" (every
// profile, Windows' default) when the line names none.
func profilesOf(line string) string {
	if m := ruleProfiles.FindStringSubmatch(line); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
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
		exists := m != nil && slices.Contains(s.rules[HyperV], m[2])
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
			s.rules[HyperV] = append(s.rules[HyperV], m[2])
			s.profiles[m[2]] = profilesOf(line)
		case !exists:
			out.WriteString("No MSFT_NetFirewallHyperVRule objects found with property 'InstanceID' equal to '" + m[2] + "'.\r\n")
		default:
			s.rules[HyperV] = slices.DeleteFunc(s.rules[HyperV], func(n string) bool { return n == m[2] })
		}
	}
	return []byte(out.String()), nil
}

// psList runs a listing. Its error is swallowed by -ErrorAction
// SilentlyContinue, or by a catch that says so: of ObjectNotFound, or of
// a missing cmdlet by its FullyQualifiedErrorId; a catch with a listing
// without a filter runs it on ObjectNotFound, and nothing catches its
// error. Any other error stops the script.
func (s *fakeShell) psList(script string, m []string) []byte {
	k := Windows
	if m[1] == "HyperV" {
		k = HyperV
	}
	names, err := s.get(k, m[2], m[3])
	if err != nil {
		all := psListAll.FindStringSubmatch(script)
		switch {
		case strings.Contains(script, "SilentlyContinue"),
			err.category == "ObjectNotFound" && strings.Contains(script, "-ne 'ObjectNotFound'"),
			err.id == "CommandNotFoundException" && strings.Contains(script, "$_.FullyQualifiedErrorId -eq 'CommandNotFoundException'"):
			names, err = nil, nil
		case err.category == "ObjectNotFound" && all != nil:
			if names, err = s.get(k, "", ""); err == nil {
				re := displayNamePattern(all[1])
				names = slices.DeleteFunc(names, func(n string) bool { return !re.MatchString(n) })
			}
		}
	}
	if err != nil {
		return []byte(err.msg + "\r\n(powershell.exe exit status 1)")
	}
	out := strings.Join(names, "\r\n")
	if strings.Contains(script, "'"+listDone+"'") {
		out += "\r\n" + listDone
	}
	return []byte(out)
}

// psError is a PowerShell error: its message, category and
// FullyQualifiedErrorId.
type psError struct{ msg, category, id string }

// get lists the display names of the rules in the firewall k whose param
// (Name, DisplayName, or "" for no filter) matches value: -DisplayName with
// wildcards, -Name literally. A filter that matches nothing fails with
// ObjectNotFound, wildcard or not (the strict reading).
func (s *fakeShell) get(k Kind, param, value string) ([]string, *psError) {
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
	re := regexp.MustCompile("^" + regexp.QuoteMeta(value) + "$")
	if param == "DisplayName" {
		re = displayNamePattern(value)
	}
	var names []string
	for _, n := range s.rules[k] {
		if re.MatchString(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, &psError{"No matching MSFT_NetFirewallRule objects found.", "ObjectNotFound", ""}
	}
	return names, nil
}

// displayNamePattern matches as a wildcard pattern with * does.
func displayNamePattern(p string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
}

func (s *fakeShell) names(k Kind) []string {
	out := slices.Clone(s.rules[k])
	slices.Sort(out)
	return out
}

func TestRender(t *testing.T) {
	tcp8080 := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp53 := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	tests := []struct{ got, want string }{
		{tcp8080.Name(), "wslfwd tcp/8080"},
		{udp53.Name(), "wslfwd udp/53"},
		{netshAdd(tcp8080, DefaultProfiles), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=allow protocol=TCP localport=8080 profile=private,domain`},
		{netshAdd(tcp8080, []string{"public"}), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=allow protocol=TCP localport=8080 profile=public`},
		{netshDelete(tcp8080), `advfirewall firewall delete rule name="wslfwd tcp/8080" dir=in protocol=TCP localport=8080`},
		{psAdd(udp53, DefaultProfiles), `try { New-NetFirewallHyperVRule -Name 'wslfwd udp/53' -DisplayName 'wslfwd udp/53' -Direction Inbound -VMCreatorId '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}' -Protocol UDP -LocalPorts 53 -Action Allow -Profiles Private,Domain | Out-Null } catch { Write-Output $_.Exception.Message }`},
		{psDelete(udp53), `try { Remove-NetFirewallHyperVRule -Name 'wslfwd udp/53' } catch { Write-Output $_.Exception.Message }`},
		{Script(Windows, []Rule{tcp8080}, []Rule{{Kind: Windows, Protocol: backend.UDP, Port: 9}}, []string{"domain"}),
			`advfirewall firewall delete rule name="wslfwd udp/9" dir=in protocol=UDP localport=9` + "\r\n" + netshAdd(tcp8080, []string{"domain"}) + "\r\n"},
		{listScript(Windows), "$ErrorActionPreference = 'Stop'\r\n" +
			`try { Get-NetFirewallRule -DisplayName 'wslfwd *' | ForEach-Object { $_.DisplayName } } catch { ` +
			`if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { Get-NetFirewallRule | Where-Object { $_.DisplayName -like 'wslfwd *' } | ForEach-Object { $_.DisplayName } } ` +
			`else { throw } }` + "\r\n" +
			"'wslfwd-list-done'\r\n"},
		{listScript(HyperV), "$ErrorActionPreference = 'Stop'\r\n" +
			`try { Get-NetFirewallHyperVRule -DisplayName 'wslfwd *' | ForEach-Object { $_.DisplayName } } catch { ` +
			`if ($_.FullyQualifiedErrorId -eq 'CommandNotFoundException') { } ` +
			`elseif ($_.CategoryInfo.Category -eq 'ObjectNotFound') { Get-NetFirewallHyperVRule | Where-Object { $_.DisplayName -like 'wslfwd *' } | ForEach-Object { $_.DisplayName } } ` +
			`else { throw } }` + "\r\n" +
			"'wslfwd-list-done'\r\n"},
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
		shell.rules[Windows] = append(shell.rules[Windows], n)
		shell.rules[HyperV] = append(shell.rules[HyperV], n)
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
		{nil, "private,domain"},
		{[]string{"domain"}, "domain"},
		{[]string{"private", "public"}, "private,public"},
	} {
		shell := newFakeShell()
		if err := New(shell, nil, tc.profiles...).Sync(t.Context(), []Rule{tcp, udp}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []Rule{tcp, udp} {
			if got := shell.profiles[r.Name()]; got != tc.want {
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
	got, err := DaemonRuleScript(netip.MustParseAddr("172.28.240.1"), 17810)
	if err != nil {
		t.Fatal(err)
	}
	want := `advfirewall firewall add rule name="wslfwd daemon (gRPC from WSL)" dir=in action=allow protocol=TCP localport=17810 localip=172.28.240.1` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, ok := ParseName(Windows, DaemonRuleName); ok {
		t.Error("the daemon's rule parses as a port rule: Sync would delete it")
	}
	for _, bad := range []netip.Addr{{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("fe80::1%eth0")} {
		if _, err := DaemonRuleScript(bad, 17810); err == nil {
			t.Errorf("DaemonRuleScript(%v) succeeded", bad)
		}
	}
	if _, err := DaemonRuleScript(netip.MustParseAddr("172.28.240.1"), 0); err == nil {
		t.Error("DaemonRuleScript with port 0 succeeded")
	}
}

func TestDaemonRule(t *testing.T) {
	shell := newFakeShell()
	shell.rules[Windows] = []string{"wslfwd tcp/80"}
	fw := New(shell, nil)
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName, "wslfwd tcp/80"}) {
		t.Fatalf("rules = %q", got)
	}
	// A new address: still exactly one daemon rule.
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.9"), 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName, "wslfwd tcp/80"}) {
		t.Fatalf("rules after a second SetDaemonRule = %q", got)
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
// add does not run and the error says so; two rules of one name, one of
// them stale, never read as success.
func TestDaemonRuleDeleteRefused(t *testing.T) {
	shell := newFakeShell()
	shell.rules[Windows] = []string{DaemonRuleName}
	shell.refuse = func(line string) bool { return strings.Contains(line, "delete rule") }
	fw := New(shell, nil)
	err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810)
	if err == nil || !strings.Contains(err.Error(), "still there") {
		t.Fatalf("SetDaemonRule = %v, want the old rule reported still there", err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName}) {
		t.Fatalf("rules = %q", got)
	}
}

// TestSyncNetshStopsAtFailingLine: one rule the firewall refuses must not
// keep the others from being made, nor the stale ones from going.
func TestSyncNetshStopsAtFailingLine(t *testing.T) {
	shell := newFakeShell()
	shell.rules[Windows] = []string{"wslfwd tcp/1", "wslfwd tcp/2"}
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
	shell.rules[HyperV] = []string{"wslfwd udp/53", "My rule"}
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
	shell.rules[Windows] = []string{"wslfwd tcp/80", "My rule"}
	shell.rules[HyperV] = []string{"wslfwd udp/53"}
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
		if n := countName(shell.rules[r.Kind], r.Name()); n != 1 {
			t.Errorf("%v: %d rules of its name after Sync, want 1", r, n)
		}
	}
}

// TestListingFallbackFails: when the listing without a filter fails too,
// with ObjectNotFound even, the listing fails, never reads as "no rules",
// and Sync changes nothing on its word.
func TestListingFallbackFails(t *testing.T) {
	shell := newFakeShell()
	shell.rules[Windows] = []string{"wslfwd tcp/80"}
	shell.rules[HyperV] = []string{"wslfwd udp/53"}
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
	shell.rules[Windows] = []string{"wslfwd tcp/80"}
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

// Rules made in other profiles than the daemon's (firewall_profiles
// narrowed since) are remade at the first Sync, once; the profiles are
// remembered, so the next daemon with the same ones changes nothing, and
// a Sync that fails leaves the remaking to the next.
func TestSyncRemakesRulesMadeInOtherProfiles(t *testing.T) {
	tcp := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	memo := filepath.Join(t.TempDir(), "state", ProfilesFile)
	shell := newFakeShell()
	wide := New(shell, nil, "private", "domain", "public")
	wide.Remember(memo)
	if err := wide.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	// The next daemon: only private networks.
	narrow := New(shell, nil, "private")
	narrow.Remember(memo)
	shell.refuse = func(string) bool { return true }
	if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err == nil {
		t.Fatal("a Sync whose every line was refused succeeded")
	}
	shell.refuse = nil
	if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []Rule{tcp, udp} {
		if got := shell.profiles[r.Name()]; got != "private" && got != "Private" {
			t.Errorf("%v in profiles %q after the profiles changed, want private only", r, got)
		}
		if n := countName(shell.rules[r.Kind], r.Name()); n != 1 {
			t.Errorf("%v: %d rules of its name, want 1", r, n)
		}
	}
	ran := len(shell.ran)
	if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	again := New(shell, nil, "private")
	again.Remember(memo)
	if err := again.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range shell.ran[ran:] {
		if !strings.Contains(cmd, "Get-NetFirewall") {
			t.Errorf("with the profiles remembered, Sync ran %q; want only listings", cmd)
		}
	}
}

func countName(names []string, name string) int {
	n := 0
	for _, m := range names {
		if m == name {
			n++
		}
	}
	return n
}

// While the Hyper-V firewall keeps refusing, the Windows firewall's rules,
// remade once, are not removed and added again at every retry.
func TestSyncRemakesEachFirewallOnce(t *testing.T) {
	tcp := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	memo := filepath.Join(t.TempDir(), "state", ProfilesFile)
	shell := newFakeShell()
	if err := New(shell, nil, "private", "public").Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	narrow := New(shell, nil, "private")
	narrow.Remember(memo)
	shell.refuse = func(line string) bool { return strings.Contains(line, "HyperVRule") && !strings.Contains(line, "Get-") }
	for range 2 {
		if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err == nil {
			t.Fatal("a Sync whose Hyper-V lines were refused succeeded")
		}
	}
	removals := 0
	for _, cmd := range shell.ran {
		if strings.Contains(cmd, "delete rule") {
			removals++
		}
	}
	if removals != 1 {
		t.Errorf("the Windows firewall's rule removed %d times over two failing Syncs, want once", removals)
	}
	if got := shell.profiles[tcp.Name()]; got != "private" {
		t.Errorf("%v in %q, want private", tcp, got)
	}
	shell.refuse = nil
	if err := narrow.Sync(t.Context(), []Rule{tcp, udp}); err != nil {
		t.Fatal(err)
	}
	if got := shell.profiles[udp.Name()]; !strings.EqualFold(got, "private") {
		t.Errorf("%v in %q once the Hyper-V firewall took changes, want private", udp, got)
	}
}
