package powershell

import (
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/winexec"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// listHyperV is the daemon's listing script (firewall.listScript): a
// failed listing must end without the done line.
const listHyperV = "$ErrorActionPreference = 'Stop'\r\n" +
	"try { Get-NetFirewallHyperVRule -DisplayName 'wslfwd *' | ForEach-Object { $_.DisplayName } } catch { if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw } }\r\n" +
	"'wslfwd-list-done'\r\n"

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
	st := state.NewMemory()
	out, errOut, code := runScript(t, st, firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80), hyperVRule(443)}, nil, firewall.DefaultProfiles))
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("add: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, code = runScript(t, st, listHyperV)
	if code != 0 || out != "wslfwd tcp/80\r\nwslfwd tcp/443\r\nwslfwd-list-done\r\n" {
		t.Fatalf("list: code %d, out %q", code, out)
	}
	out, errOut, code = runScript(t, st, firewall.Script(firewall.HyperV, nil, []firewall.Rule{hyperVRule(80)}, nil))
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("remove: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, _ = runScript(t, st, listHyperV)
	if out != "wslfwd tcp/443\r\nwslfwd-list-done\r\n" {
		t.Fatalf("list after remove: %q", out)
	}
}

func TestEmptyListingStillEndsWithDone(t *testing.T) {
	out, _, code := runScript(t, state.NewMemory(), listHyperV)
	if code != 0 || out != "wslfwd-list-done\r\n" {
		t.Errorf("code %d, out %q", code, out)
	}
}

// TestNameTakesNoWildcard: -Name 'wslfwd *' names no rule, so it removes
// nothing and fails, and a listing by -Name finds nothing.
func TestNameTakesNoWildcard(t *testing.T) {
	st := state.NewMemory()
	runScript(t, st, firewall.Script(firewall.HyperV, []firewall.Rule{hyperVRule(80)}, nil, firewall.DefaultProfiles))
	_, errOut, code := runScript(t, st, "Remove-NetFirewallHyperVRule -Name 'wslfwd *'\r\n")
	if code != 0 || !strings.Contains(errOut, "No MSFT_NetFirewallHyperVRule objects found with property 'Name' equal to 'wslfwd *'") {
		t.Errorf("remove by a -Name pattern: code %d, err %q", code, errOut)
	}
	out, errOut, code := runScript(t, st, "$ErrorActionPreference = 'Stop'\r\n"+
		"Get-NetFirewallHyperVRule -Name 'wslfwd *' | ForEach-Object { $_.DisplayName }\r\n'wslfwd-list-done'\r\n")
	if code != 1 || strings.Contains(out, "wslfwd-list-done") || !strings.Contains(errOut, "ObjectNotFound") {
		t.Errorf("list by a -Name pattern: code %d, out %q, err %q", code, out, errOut)
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

// TestUncaughtErrorEndsScript: a rethrown error stops the script before
// the done line, with exit 1, so a failed listing cannot read as empty.
func TestUncaughtErrorEndsScript(t *testing.T) {
	script := "$ErrorActionPreference = 'Stop'\r\n" +
		"try { New-NetFirewallHyperVRule -Name 'x' -DisplayName 'x' -Direction Sideways -VMCreatorId '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}' -Protocol TCP -LocalPorts 80 -Action Allow -Profiles Private | Out-Null } catch { if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw } }\r\n" +
		"'wslfwd-list-done'\r\n"
	out, errOut, code := runScript(t, state.NewMemory(), script)
	if code != 1 || out != "" || !strings.Contains(errOut, "InvalidArgument") {
		t.Errorf("code %d, out %q, err %q", code, out, errOut)
	}
}

// TestWindowsFirewallListingSeesNetshRules: Get-NetFirewallRule lists the
// rules netsh keeps, by display name, wildcard or not.
func TestWindowsFirewallListingSeesNetshRules(t *testing.T) {
	st := state.NewMemory()
	st.SetRules(state.Windows, []state.Rule{{"name": "wslfwd tcp/80"}, {"name": "user rule"}, {"name": "WSLFWD tcp/81"}})
	list := "$ErrorActionPreference = 'Stop'\r\n" +
		"try { Get-NetFirewallRule -DisplayName 'wslfwd *' | ForEach-Object { $_.DisplayName } } catch { if ($_.CategoryInfo.Category -ne 'ObjectNotFound') { throw } }\r\n" +
		"'wslfwd-list-done'\r\n"
	out, _, code := runScript(t, st, list)
	if code != 0 || out != "wslfwd tcp/80\r\nWSLFWD tcp/81\r\nwslfwd-list-done\r\n" {
		t.Errorf("code %d, out %q", code, out)
	}
}

// TestUnknownScriptsFailBeforeRunning: one line the stand-in does not know
// fails the whole script, and the lines before it do not run.
func TestUnknownScriptsFailBeforeRunning(t *testing.T) {
	for _, bad := range []string{
		"Get-NetFirewallHyperVRule | ForEach-Object { $_.DisplayName }", // no filter
		"Get-NetFirewallRule -Name 'wslfwd *' | ForEach-Object { $_.DisplayName }",
		"Get-NetFirewallHyperVRule -DisplayName 'wslfwd [a]*' | ForEach-Object { $_.DisplayName }",
		"Remove-NetFirewallHyperVRule -Name 'x' | Out-Null",
		"Remove-NetFirewallRule -Name 'x'",
		"try { Remove-NetFirewallHyperVRule -Name 'x' } catch { }",
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
