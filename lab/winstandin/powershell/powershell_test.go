package powershell

import (
	"errors"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/winexec"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// daemonListings returns the listing scripts the daemon sends: the
// Windows firewall's and the Hyper-V firewall's.
func daemonListings(t *testing.T) (windows, hyperV string) {
	t.Helper()
	taker := &scriptTaker{}
	if _, err := firewall.New(taker, nil).Rules(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(taker.scripts) != 2 {
		t.Fatalf("the daemon sent %d listing scripts, want 2", len(taker.scripts))
	}
	return taker.scripts[0], taker.scripts[1]
}

func runScript(t *testing.T, st state.Store, script string) (string, string, int) {
	t.Helper()
	return Shell{Store: st}.Run(winexec.PowerShellArgs(script))
}

func hyperVRule(port uint16) firewall.Rule {
	return firewall.Rule{Kind: firewall.HyperV, Protocol: backend.TCP, Port: port}
}

// TestDaemonScriptsRoundTrip runs what the daemon renders: add, list,
// remove, list.
func TestDaemonScriptsRoundTrip(t *testing.T) {
	_, listHyperV := daemonListings(t)
	st := state.NewMemory()
	out, errOut, code := runScript(t, st, firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80), hyperVRule(443)}, nil, firewall.DefaultProfiles))
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("add: code %d, out %q, err %q", code, out, errOut)
	}
	line := func(port string) string {
		return "rule|True|Inbound|Allow|TCP|" + port + "|Domain, Private||{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}|wslfwd tcp/" + port + "|wslfwd tcp/" + port + "\r\n"
	}
	out, _, code = runScript(t, st, listHyperV)
	if want := line("80") + line("443") + "wslfwd-list-done\r\n"; code != 0 || out != want {
		t.Fatalf("list: code %d, out %q, want %q", code, out, want)
	}
	out, errOut, code = runScript(t, st, firewall.Script(firewall.HyperV, nil, []firewall.Rule{hyperVRule(80)}, nil))
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("remove: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, _ = runScript(t, st, listHyperV)
	if want := line("443") + "wslfwd-list-done\r\n"; out != want {
		t.Fatalf("list after remove: %q, want %q", out, want)
	}
}

// TestEmptyListingStillEndsWithDone: a listing that finds nothing prints
// the done line alone.
func TestEmptyListingStillEndsWithDone(t *testing.T) {
	windows, hyperV := daemonListings(t)
	for _, list := range []string{windows, hyperV} {
		out, errOut, code := runScript(t, state.NewMemory(), list)
		if code != 0 || out != "wslfwd-list-done\r\n" || errOut != "" {
			t.Errorf("code %d, out %q, err %q", code, out, errOut)
		}
	}
}

// failingStore fails every read of rules.
type failingStore struct{ state.Store }

func (s *failingStore) Rules(state.Table) ([]state.Rule, error) {
	return nil, errors.New("The RPC server is unavailable.")
}

// TestListingFails: a listing that cannot read the rules ends without the
// done line, with exit 1.
func TestListingFails(t *testing.T) {
	windows, hyperV := daemonListings(t)
	for _, list := range []string{windows, hyperV} {
		out, errOut, code := runScript(t, &failingStore{Store: state.NewMemory()}, list)
		if code != 1 || out != "" || !strings.Contains(errOut, "The RPC server is unavailable.") {
			t.Errorf("code %d, out %q, err %q", code, out, errOut)
		}
	}
}

// TestListingWithoutHyperVFirewall: on a Windows without the Hyper-V
// firewall, the Hyper-V listing finds no rules, and says nothing; the
// Windows firewall's listing is as before.
func TestListingWithoutHyperVFirewall(t *testing.T) {
	windows, hyperV := daemonListings(t)
	st := state.NewMemory()
	st.SetRules(state.Windows, []state.Rule{{"name": "wslfwd tcp/80", "id": "{1}", "dir": "in", "action": "allow", "protocol": "TCP", "localport": "80"}})
	sh := Shell{Store: st, NoHyperV: true}
	for list, want := range map[string]string{
		hyperV:  "wslfwd-list-done\r\n",
		windows: "rule|True|Inbound|Allow|TCP|80|Any|Any||{1}|wslfwd tcp/80\r\nwslfwd-list-done\r\n",
	} {
		out, errOut, code := sh.Run(winexec.PowerShellArgs(list))
		if code != 0 || out != want || errOut != "" {
			t.Errorf("code %d, out %q, err %q; want out %q", code, out, errOut, want)
		}
	}
}

// TestMissingCommand: a command that does not exist is an error of
// category ObjectNotFound that try catches with or without 'Stop', and
// that without try ends the script only under 'Stop'.
func TestMissingCommand(t *testing.T) {
	sh := Shell{Store: state.NewMemory(), NoHyperV: true}
	remove := "Remove-NetFirewallHyperVRule -Name 'wslfwd tcp/80'\r\n"
	for _, tc := range []struct {
		script, out, err string
		code             int
	}{
		{firewall.Script(firewall.HyperV, nil, []firewall.Rule{hyperVRule(80)}, nil), "The term 'Remove-NetFirewallHyperVRule' is not recognized", "", 0},
		{remove + "'after'\r\n", "after", "ObjectNotFound: (Remove-NetFirewallHyperVRule:String) [], CommandNotFoundException", 0},
		{"$ErrorActionPreference = 'Stop'\r\n" + remove + "'after'\r\n", "", "CommandNotFoundException", 1},
	} {
		out, errOut, code := sh.Run(winexec.PowerShellArgs(tc.script))
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) ||
			tc.out == "" && out != "" || tc.err == "" && errOut != "" {
			t.Errorf("%q: code %d, out %q, err %q", tc.script, code, out, errOut)
		}
	}
}

// TestNameTakesNoWildcard: -Name 'wslfwd *' names no rule, so it removes
// nothing and fails.
func TestNameTakesNoWildcard(t *testing.T) {
	st := state.NewMemory()
	runScript(t, st, firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80)}, nil, firewall.DefaultProfiles))
	_, errOut, code := runScript(t, st, "Remove-NetFirewallHyperVRule -Name 'wslfwd *'\r\n")
	if code != 0 || !strings.Contains(errOut, "No MSFT_NetFirewallHyperVRule objects found with property 'Name' equal to 'wslfwd *'") {
		t.Errorf("remove by a -Name pattern: code %d, err %q", code, errOut)
	}
	if rs, _ := st.Rules(state.HyperV); len(rs) != 1 {
		t.Errorf("rules = %v, want the one rule untouched", rs)
	}
}

// TestTryCatchesOnlyWithStop: without $ErrorActionPreference = 'Stop' a
// cmdlet's error is written to stderr and the catch block never runs.
func TestTryCatchesOnlyWithStop(t *testing.T) {
	st := state.NewMemory()
	remove := "try { Remove-NetFirewallHyperVRule -Name 'wslfwd tcp/80' } catch { Write-Output $_.Exception.Message }\r\n"
	out, errOut, code := runScript(t, st, remove)
	if code != 0 || out != "" || !strings.Contains(errOut, "Remove-NetFirewallHyperVRule : No MSFT_NetFirewallHyperVRule objects") {
		t.Errorf("without Stop: code %d, out %q, err %q", code, out, errOut)
	}
	out, errOut, code = runScript(t, st, "$ErrorActionPreference = 'Stop'\r\n"+remove)
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "No MSFT_NetFirewallHyperVRule objects") {
		t.Errorf("with Stop: code %d, out %q, err %q", code, out, errOut)
	}
}

func TestNewRuleNameMustBeNew(t *testing.T) {
	st := state.NewMemory()
	add := firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80)}, nil, firewall.DefaultProfiles)
	runScript(t, st, add)
	_, errOut, code := runScript(t, st, add)
	if code != 0 || !strings.Contains(errOut, "already exists") {
		t.Errorf("second add: code %d, err %q", code, errOut)
	}
	if rs, _ := st.Rules(state.HyperV); len(rs) != 1 {
		t.Errorf("rules = %v", rs)
	}
}

// TestUncaughtErrorEndsScript: under 'Stop' an error outside try stops
// the script before the lines after it, with exit 1.
func TestUncaughtErrorEndsScript(t *testing.T) {
	script := "$ErrorActionPreference = 'Stop'\r\n" +
		"New-NetFirewallHyperVRule -Name 'x' -DisplayName 'x' -Direction Sideways -VMCreatorId '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}' -Protocol TCP -LocalPorts 80 -Action Allow -Profiles Private | Out-Null\r\n" +
		"'wslfwd-list-done'\r\n"
	out, errOut, code := runScript(t, state.NewMemory(), script)
	if code != 1 || out != "" || !strings.Contains(errOut, "InvalidArgument") {
		t.Errorf("code %d, out %q, err %q", code, out, errOut)
	}
}

// TestWindowsFirewallListingSeesNetshRules: the Windows firewall's
// listing prints the rules netsh keeps whose display name matches
// 'wslfwd *' without regard to case, with their values as the cmdlets
// print them (a disabled rule, a Block rule, profiles, addresses), and
// names that could forge a line with "?" for "|".
func TestWindowsFirewallListingSeesNetshRules(t *testing.T) {
	st := state.NewMemory()
	st.SetRules(state.Windows, []state.Rule{
		{"name": "wslfwd tcp/80", "id": "{1}", "dir": "in", "action": "allow", "protocol": "tcp", "localport": "80", "profile": "private,domain"},
		{"name": "user rule", "id": "{2}", "dir": "in", "action": "allow"},
		{"name": "WSLFWD tcp/81", "id": "{3}", "dir": "out", "action": "block", "protocol": "TCP", "localport": "81", "enable": "no", "localip": "10.0.0.1"},
		{"name": "wslfwd a|rule", "id": "{4}", "dir": "in", "action": "allow"},
	})
	list, _ := daemonListings(t)
	out, _, code := runScript(t, st, list)
	want := "rule|True|Inbound|Allow|TCP|80|Domain, Private|Any||{1}|wslfwd tcp/80\r\n" +
		"rule|False|Outbound|Block|TCP|81|Any|10.0.0.1||{3}|WSLFWD tcp/81\r\n" +
		"rule|True|Inbound|Allow|Any|Any|Any|Any||{4}|wslfwd a?rule\r\n" +
		"wslfwd-list-done\r\n"
	if code != 0 || out != want {
		t.Errorf("code %d, out %q, want %q", code, out, want)
	}
}

// TestUnknownScriptsFailBeforeRunning: one line the stand-in does not know
// fails the whole script, and the lines before it do not run.
func TestUnknownScriptsFailBeforeRunning(t *testing.T) {
	for _, bad := range []string{
		"Get-NetFirewallHyperVRule | ForEach-Object { $_.DisplayName }", // no filter
		"Get-NetFirewallRule -Name 'wslfwd *' | ForEach-Object { $_.DisplayName }",
		"Get-NetFirewallHyperVRule -DisplayName 'wslfwd [a' | ForEach-Object { $_.DisplayName }", // an invalid pattern
		// The catch that read every ObjectNotFound as "no rules".
		"$ErrorActionPreference = 'Stop'\r\ntry { Get-NetFirewallHyperVRule -DisplayName 'wslfwd *' | ForEach-Object { $_.DisplayName } } catch { if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw } }",
		"Get-NetFirewallRule | Where-Object { $_.DisplayName -like 'wslfwd *' }",
		"Get-NetFirewallRule -DisplayName 'wslfwd *' | Where-Object { $_.DisplayName -like 'wslfwd *' } | ForEach-Object { $_.DisplayName }",
		"Remove-NetFirewallHyperVRule -Name 'x' | Where-Object { $_.DisplayName -like 'x' }",
		"Remove-NetFirewallHyperVRule -Name 'x' | Out-Null",
		"Remove-NetFirewallRule -Name 'x'",
		"try { Remove-NetFirewallHyperVRule -Name 'x' } catch { }",
		"try { Remove-NetFirewallHyperVRule -Name 'x' } catch { if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { } else { Write-Output $_.Exception.Message } }",
		"Write-Host hi",
		"'unterminated",
	} {
		st := state.NewMemory()
		script := firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80)}, nil, firewall.DefaultProfiles) + bad + "\r\n"
		_, errOut, code := runScript(t, st, script)
		if code != 1 || !strings.Contains(errOut, "unsupported script") {
			t.Errorf("%q: code %d, err %q", bad, code, errOut)
		}
		if rs, _ := st.Rules(state.HyperV); len(rs) != 0 {
			t.Errorf("%q: lines before it ran: %v", bad, rs)
		}
	}
}

func TestCommandLineMustBeTheDaemons(t *testing.T) {
	_, errOut, code := Shell{Store: state.NewMemory()}.Run([]string{"-Command", "Get-NetFirewallHyperVRule"})
	if code != 1 || !strings.Contains(errOut, "unsupported command line") {
		t.Errorf("code %d, err %q", code, errOut)
	}
}

// TestNearMissListingsRefused: a listing one step off the daemon's is
// refused, printing nothing.
func TestNearMissListingsRefused(t *testing.T) {
	windows, hyperV := daemonListings(t)
	for name, tc := range map[string]struct{ list, old, new string }{
		"another property in Where-Object": {windows, "{ $_.DisplayName -like", "{ $_.Name -like"},
		"-match for -like":                 {hyperV, " -like ", " -match "},
		"else if for elseif":               {hyperV, "} elseif (", "} else if ("},
		"another error id":                 {hyperV, "'CommandNotFoundException'", "'CommandNotFound'"},
		"a category by -ne":                {windows, "-eq 'ObjectNotFound'", "-ne 'ObjectNotFound'"},
		"no filter join":                   {windows, "$p = $port[$_.InstanceID]; ", ""},
		"names unsanitised":                {hyperV, "($_.Name -replace '[|\\r\\n]', '?')", "$_.Name"},
		"no Group Policy check":            {windows, "$_.AllowLocalFirewallRules -eq 'False'", "$false"},
	} {
		bad := strings.Replace(tc.list, tc.old, tc.new, 1)
		if bad == tc.list {
			t.Fatalf("%s: %q is not in the daemon's listing", name, tc.old)
		}
		out, errOut, code := runScript(t, state.NewMemory(), bad)
		if code != 1 || out != "" || !strings.Contains(errOut, "unsupported script") {
			t.Errorf("%s: code %d, out %q, err %q", name, code, out, errOut)
		}
	}
}
