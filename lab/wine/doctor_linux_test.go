package wine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/cli/output"
)

// lanPort is the service of the firewall = false test.
const lanPort = 18090

// verdictWait bounds how long doctor may take to reflect a rule a user
// just made: the daemon audits again when asked 2 s after its last audit,
// so a few seconds; far less than the minute between its audits of its
// own. Doctor is run again every doctorEvery until then, each run a
// process and a PowerShell audit under Wine.
const (
	verdictWait = 15 * time.Second
	doctorEvery = 250 * time.Millisecond
)

// TestFirewallOffUnderWine: with firewall = false the daemon makes no
// rule, and the real CLI's doctor, asking the daemon under Wine whose
// audit is answered by the PowerShell stand-in from the rules netsh keeps,
// names the forwarded port no rule allows in its "LAN firewall" check and
// exits non-zero; a user's allow rule (the one doctor's hint gives) clears
// it, a user's block rule brings it back. The real CLI's probe says that
// its lan-to-wsl path ran only on the host and how to test from another
// machine.
func TestFirewallOffUnderWine(t *testing.T) {
	h := newHost(t)
	h.config = "firewall = false\n"
	h.addUserState()
	h.listen(lanPort)
	c := h.startDaemon(0)
	h.startAgent()
	h.waitAgent(c, "the agent to connect")
	key, rule := fmt.Sprintf("0.0.0.0/%d", lanPort), fmt.Sprintf("wslfwd tcp/%d", lanPort)
	h.waitView("the forward's portproxy entry", func(v view) bool { return v.entries[key] != "" })
	tok := h.privateToken("token")
	named := fmt.Sprintf("tcp/%d", lanPort)

	h.waitDoctor(tok, "the blocked port named", func(lan *output.Check, failed bool) bool {
		return lan != nil && lan.Verdict == output.Fail && strings.Contains(lan.Detail, named) && failed
	})
	h.addRule(fmt.Sprintf("name=LAN %d", lanPort), "dir=in", "action=allow", "protocol=TCP",
		fmt.Sprintf("localport=%d", lanPort), "profile=private,domain")
	h.waitDoctor(tok, "the port no longer named after the user's allow rule", func(lan *output.Check, _ bool) bool {
		return lan == nil
	})
	h.addRule(fmt.Sprintf("name=no %d", lanPort), "dir=in", "action=block", "protocol=TCP", fmt.Sprintf("localport=%d", lanPort))
	h.waitDoctor(tok, "the port named again after the user's block rule", func(lan *output.Check, failed bool) bool {
		return lan != nil && lan.Verdict == output.Fail && strings.Contains(lan.Detail, named) && failed
	})

	h.checkProbeNote(tok)
	v, err := h.look()
	if err != nil {
		t.Fatal(err)
	}
	if n := v.count(rule); n != 0 {
		t.Errorf("with firewall = false the daemon made %d rules %q", n, rule)
	}
	h.checkUserState()
	h.stopDaemon()
}

// runCLI runs the Linux wslfwd in winhost against the daemon, with the
// admin token in tok, and returns its stdout and stderr and whether it
// exited 0.
func (h *host) runCLI(tok string, args ...string) (stdout, stderr string, ok bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	args = append(args, "--host", daemonAddr.String(), "--token-file", tok)
	cmd := h.lab.WinHost.Command(ctx, h.cli, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		h.t.Fatalf("wslfwd %s did not end within %v: %s", strings.Join(args, " "), wait, errOut.String())
	}
	return out.String(), errOut.String(), err == nil
}

// waitDoctor runs `wslfwd doctor -o json` until cond holds for its "LAN
// firewall" check (nil when it has none) and whether it failed, within
// verdictWait, and logs the last report.
func (h *host) waitDoctor(tok, what string, cond func(lan *output.Check, failed bool) bool) {
	h.t.Helper()
	start := time.Now()
	for runs := 1; ; runs++ {
		out, errOut, ok := h.runCLI(tok, "doctor", "-o", "json")
		var rep output.DoctorReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			h.t.Fatalf("doctor printed no report (%v): %s%s", err, out, errOut)
		}
		var lan *output.Check
		for i, c := range rep.Checks {
			if c.Name == "LAN firewall" {
				lan = &rep.Checks[i]
			}
		}
		if cond(lan, !ok) {
			h.t.Logf("%s: after %d doctor run(s), %v; exit 0: %v; checks: %+v", what, runs, time.Since(start).Round(time.Millisecond), ok, rep.Checks)
			return
		}
		h.daemonDied()
		if time.Since(start) > verdictWait {
			h.t.Fatalf("timed out after %v waiting for doctor to show %s; last report (exit 0: %v): %+v\ndaemon log:\n%s",
				verdictWait, what, ok, rep.Checks, h.daemon.Tail(30))
		}
		time.Sleep(doctorEvery)
	}
}

// checkProbeNote runs `wslfwd probe` and checks that its output says
// lan-to-wsl ran on the host only and gives the commands to run on
// another machine. Under Wine nothing serves portproxy entries, so the
// paths through the forward fail and the probe exits 1: only its words
// are checked here.
func (h *host) checkProbeNote(tok string) {
	h.t.Helper()
	out, errOut, ok := h.runCLI(tok, "probe", "--distro", distro, "--step-timeout", "2s")
	for _, want := range []string{
		"lan-to-wsl ran on this host, to its own address",
		"not whether LAN clients get\nin",
		"Test-NetConnection ",
		"wslfwd probe --from-lan ",
	} {
		if !strings.Contains(out, want) {
			h.t.Errorf("probe's output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	h.t.Logf("probe (exit 0: %v):\n%s%s", ok, out, errOut)
}
