package firewall

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// fakeShell is both firewalls in memory, driven by the rendered commands
// as netsh and PowerShell would run them.
type fakeShell struct {
	rules  map[Kind]map[string]bool // firewall -> rule names
	ran    []string
	broken bool // commands "succeed" and change nothing
}

func newFakeShell() *fakeShell {
	return &fakeShell{rules: map[Kind]map[string]bool{Windows: {}, HyperV: {}}}
}

var (
	netshRule = regexp.MustCompile(`^advfirewall firewall (add|delete) rule name="([^"]*)"`)
	psRule    = regexp.MustCompile(`^try \{ (New|Remove)-NetFirewallHyperVRule -Name '([^']*)'`)
)

func (s *fakeShell) Netsh(_ context.Context, script string) ([]byte, error) {
	s.ran = append(s.ran, "netsh: "+script)
	for _, line := range strings.Split(strings.TrimSpace(script), "\r\n") {
		m := netshRule.FindStringSubmatch(line)
		if m == nil {
			return []byte("The syntax supplied for this command is not valid."), nil
		}
		if !s.broken {
			s.rules[Windows][m[2]] = m[1] == "add"
		}
	}
	return []byte("Ok.\r\n"), nil
}

func (s *fakeShell) PowerShell(_ context.Context, script string) ([]byte, error) {
	s.ran = append(s.ran, "ps: "+script)
	switch script {
	case listScript(Windows), listScript(HyperV):
		k := Windows
		if script == listScript(HyperV) {
			k = HyperV
		}
		var names []string
		for n, ok := range s.rules[k] {
			if ok && strings.HasPrefix(n, Prefix) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return []byte(strings.Join(names, "\r\n")), nil
	}
	for _, line := range strings.Split(strings.TrimSpace(script), "\r\n") {
		m := psRule.FindStringSubmatch(line)
		if m == nil {
			return []byte("unexpected line"), nil
		}
		if !s.broken {
			s.rules[HyperV][m[2]] = m[1] == "New"
		}
	}
	return nil, nil
}

func (s *fakeShell) names(k Kind) []string {
	var out []string
	for n, ok := range s.rules[k] {
		if ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func TestRender(t *testing.T) {
	tcp8080 := Rule{Kind: Windows, Protocol: backend.TCP, Port: 8080}
	udp53 := Rule{Kind: HyperV, Protocol: backend.UDP, Port: 53}
	tests := []struct{ got, want string }{
		{tcp8080.Name(), "wslfwd tcp/8080"},
		{udp53.Name(), "wslfwd udp/53"},
		{netshAdd(tcp8080), `advfirewall firewall add rule name="wslfwd tcp/8080" dir=in action=allow protocol=TCP localport=8080`},
		{netshDelete(tcp8080), `advfirewall firewall delete rule name="wslfwd tcp/8080" dir=in protocol=TCP localport=8080`},
		{psAdd(udp53), `try { New-NetFirewallHyperVRule -Name 'wslfwd udp/53' -DisplayName 'wslfwd udp/53' -Direction Inbound -VMCreatorId '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}' -Protocol UDP -LocalPorts 53 -Action Allow | Out-Null } catch { Write-Output $_.Exception.Message }`},
		{psDelete(udp53), `try { Remove-NetFirewallHyperVRule -Name 'wslfwd udp/53' } catch { Write-Output $_.Exception.Message }`},
		{Script(Windows, []Rule{tcp8080}, []Rule{{Kind: Windows, Protocol: backend.UDP, Port: 9}}),
			`advfirewall firewall delete rule name="wslfwd udp/9" dir=in protocol=UDP localport=9` + "\r\n" + netshAdd(tcp8080) + "\r\n"},
		{listScript(Windows), `Get-NetFirewallRule -DisplayName 'wslfwd *' -ErrorAction SilentlyContinue | ForEach-Object { $_.DisplayName }`},
		{listScript(HyperV), `Get-NetFirewallHyperVRule -Name 'wslfwd *' -ErrorAction SilentlyContinue | ForEach-Object { $_.Name }`},
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
		shell.rules[Windows][n] = true
		shell.rules[HyperV][n] = true
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
		if !strings.HasPrefix(r, "ps: Get-") {
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
	want := `advfirewall firewall delete rule name="wslfwd daemon (gRPC from WSL)"` + "\r\n" +
		`advfirewall firewall add rule name="wslfwd daemon (gRPC from WSL)" dir=in action=allow protocol=TCP localport=17810 localip=172.28.240.1` + "\r\n"
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
	shell.rules[Windows]["wslfwd tcp/80"] = true
	fw := New(shell, nil)
	if err := fw.SetDaemonRule(t.Context(), netip.MustParseAddr("172.28.240.1"), 17810); err != nil {
		t.Fatal(err)
	}
	if got := shell.names(Windows); !slices.Equal(got, []string{DaemonRuleName, "wslfwd tcp/80"}) {
		t.Fatalf("rules = %q", got)
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
