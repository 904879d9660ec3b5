package powershell

import (
	"context"
	"strings"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/winexec"
	"github.com/wslfwd/wslfwd/lab/winstandin/state"
)

// scriptTaker records the PowerShell scripts the daemon's firewall code
// sends and answers each with an empty listing.
type scriptTaker struct{ scripts []string }

func (s *scriptTaker) Netsh(context.Context, string) ([]byte, error) { return nil, nil }

func (s *scriptTaker) PowerShell(_ context.Context, script string) ([]byte, error) {
	s.scripts = append(s.scripts, script)
	return []byte("wslfwd-list-done\r\n"), nil
}

// daemonAudits returns the audit scripts the daemon sends: the Windows
// firewall's, then the Hyper-V firewall's.
func daemonAudits(t *testing.T) []string {
	t.Helper()
	taker := &scriptTaker{}
	wanted := []firewall.Rule{{Kind: firewall.Windows, Protocol: backend.TCP, Port: 80}, hyperVRule(80)}
	if _, err := firewall.New(taker, nil).Blocked(t.Context(), wanted); err != nil {
		t.Fatal(err)
	}
	if len(taker.scripts) != 2 {
		t.Fatalf("the daemon sent %d audit scripts, want 2", len(taker.scripts))
	}
	return taker.scripts
}

// TestAuditAnswersFromTheRulesKept: the daemon's audits are answered
// from the rules netsh and the Hyper-V cmdlets made, in the cmdlets'
// spelling, with only enabled inbound rules (of WSL's VM) listed.
func TestAuditAnswersFromTheRulesKept(t *testing.T) {
	st := state.NewMemory()
	st.SetRules(state.Windows, []state.Rule{
		{"name": "web", "dir": "in", "action": "allow", "protocol": "tcp", "localport": "80,8000-8100", "profile": "private,domain"},
		{"name": "off", "dir": "in", "action": "allow", "protocol": "tcp", "localport": "81", "enable": "no"},
		{"name": "out", "dir": "out", "action": "allow", "protocol": "tcp", "localport": "82"},
		{"name": "deny", "dir": "in", "action": "block", "protocol": "TCP", "localport": "83"},
		{"name": "app", "dir": "in", "action": "allow", "program": `C:\tools\server.exe`},
	})
	st.SetRules(state.HyperV, []state.Rule{
		{"name": "a", "direction": "Inbound", "vmcreatorid": "{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}", "protocol": "TCP", "localports": "80", "action": "Allow", "profiles": "Public"},
		{"name": "b", "direction": "Inbound", "vmcreatorid": "{00000000-0000-0000-0000-000000000001}", "protocol": "TCP", "localports": "81", "action": "Allow", "profiles": "Any"},
	})
	scripts := daemonAudits(t)
	want := []string{
		"profile|Private\r\n" +
			"rule|Allow|TCP|80,8000-8100|Domain, Private|Any|Any\r\n" +
			"rule|Block|TCP|83|Any|Any|Any\r\n" +
			"rule|Allow|Any|Any|Any|C:\\tools\\server.exe|Any\r\n" +
			"wslfwd-list-done\r\n",
		"profile|Private\r\nrule|Allow|TCP|80|Public|Any|Any\r\nwslfwd-list-done\r\n",
	}
	for i, script := range scripts {
		out, errOut, code := runScript(t, st, script)
		if code != 0 || errOut != "" || out != want[i] {
			t.Errorf("audit %d: code %d, err %q, out\n%q\nwant\n%q", i, code, errOut, out, want[i])
		}
	}
}

// TestAuditKnownOnlyWhole: an audit script with a line changed, dropped
// or added is an unknown script, refused before it runs.
func TestAuditKnownOnlyWhole(t *testing.T) {
	for _, script := range daemonAudits(t) {
		lines := strings.Split(strings.TrimSuffix(script, "\r\n"), "\r\n")
		for name, bad := range map[string]string{
			"a line dropped":      strings.Join(lines[1:], "\r\n"),
			"a line added":        script + "'more'\r\n",
			"ActiveStore missing": strings.Replace(script, "-PolicyStore ActiveStore ", "", 1),
			"a filter changed":    strings.Replace(script, "-Direction Inbound", "-Direction Outbound", 1),
		} {
			_, errOut, code := runScript(t, state.NewMemory(), bad)
			if code != 1 || !strings.Contains(errOut, "unsupported script") {
				t.Errorf("%s: code %d, err %q", name, code, errOut)
			}
		}
	}
}

// TestAuditWithoutHyperVFirewall: on a Windows without the Hyper-V
// firewall the Hyper-V audit fails at its first Hyper-V cmdlet, without
// the done line; the Windows firewall's audit is answered as ever.
func TestAuditWithoutHyperVFirewall(t *testing.T) {
	scripts := daemonAudits(t)
	sh := Shell{Store: state.NewMemory(), NoHyperV: true}
	out, errOut, code := sh.Run(winexec.PowerShellArgs(scripts[1]))
	if code != 1 || out != "profile|Private\r\n" || !strings.Contains(errOut, "Get-NetFirewallHyperVVMSetting:String") {
		t.Errorf("Hyper-V audit: code %d, out %q, err %q", code, out, errOut)
	}
	if out, _, code = sh.Run(winexec.PowerShellArgs(scripts[0])); code != 0 || !strings.HasSuffix(out, "wslfwd-list-done\r\n") {
		t.Errorf("Windows firewall audit: code %d, out %q", code, out)
	}
}
