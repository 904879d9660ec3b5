package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/tokentls"
)

func newDoctorCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the setup and say how to fix what is wrong",
		Long: `Run the checks a person would otherwise do by hand, each reported as PASS,
WARN or FAIL with a fix: inside WSL, that the networking mode is supported and
the host is reachable as the default gateway; on Windows, what can be seen
without admin rights (the IP Helper service portproxy needs); then that the
daemon is reachable, accepts the token, reports no standing problem, has
agents connected (this distro's, inside WSL), and that no forward is in ERROR
or CONFLICT. A check that cannot run because an earlier one failed is SKIP.
Exits 1 when any check fails; warnings alone exit 0.`,
		Example: `  wslfwd doctor
  wslfwd doctor -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			checks := a.doctor(cmd.Context())
			var failed []string
			for _, c := range checks {
				if c.Verdict == output.Fail {
					failed = append(failed, c.Name)
				}
			}
			if a.format == output.JSON {
				if err := output.WritePlainJSON(a.stdout, output.DoctorReport{OK: len(failed) == 0, Checks: checks}); err != nil {
					return err
				}
			} else {
				output.Doctor(a.stdout, checks)
			}
			if len(failed) > 0 {
				return fmt.Errorf("doctor: %s failed: %s", countOf(len(failed), "check"), strings.Join(failed, "; "))
			}
			return nil
		},
	}
}

// The checks of the daemon, in the order doctor makes them: each one's
// premise is that the ones before it passed.
const (
	cAddr     = "daemon address"
	cToken    = "token"
	cReach    = "daemon reachable"
	cAccepted = "token accepted"
	cProblems = "daemon problems"
	cAgents   = "agents connected"
	cForwards = "forwards healthy"
)

var daemonChecks = []string{cAddr, cToken, cReach, cAccepted, cProblems, cAgents, cForwards}

// report is the doctor's checks in the order they were made.
type report []output.Check

func (r *report) add(name string, v output.Verdict, detail, hint string) {
	*r = append(*r, output.Check{Name: name, Verdict: v, Detail: detail, Hint: hint})
}

// skipAfter reports every daemon check after the one that failed as SKIP.
func (r *report) skipAfter(failed, because string) {
	for _, n := range daemonChecks[slices.Index(daemonChecks, failed)+1:] {
		r.add(n, output.Skip, because, "")
	}
}

// doctor runs the checks in order; a check whose premise failed is SKIP.
func (a *app) doctor(ctx context.Context) []output.Check {
	var r report
	place := controlclient.Detect(a.env)
	if place.Kind == controlclient.WSL {
		place.DetectNetwork(a.env)
		r = append(r, wslChecks(place)...)
	}
	conn, addr := a.doctorConnect(&r, &place)
	if conn == nil {
		return r
	}
	defer conn.Close()
	status := a.doctorStatus(ctx, &r, conn, place, addr)
	if status == nil {
		return r
	}
	r = append(r, a.hostChecks(ctx, status.GetBackend())...)
	if len(status.GetProblems()) == 0 {
		r.add(cProblems, output.Pass, "none reported", "")
	}
	for _, p := range status.GetProblems() {
		name, v := problemCheck(p.GetCode())
		r.add(name, v, p.GetMessage(), p.GetHint())
	}
	a.doctorLists(ctx, &r, conn, place)
	return r
}

// doctorConnect finds the daemon's address and a token, and prepares a
// connection; nil when it cannot, with the rest skipped.
func (a *app) doctorConnect(r *report, place *controlclient.Place) (*controlclient.Conn, string) {
	t, err := controlclient.Locate(a.env, place, a.host)
	if err != nil {
		r.add(cAddr, output.Fail, err.Error(), "pass the daemon's address with --host, e.g. --host 172.28.240.1")
		r.skipAfter(cAddr, "no daemon address")
		return nil, ""
	}
	r.add(cAddr, output.Pass, fmt.Sprintf("%s (%s)", t.Addr, t.Why), "")

	tok, from, err := controlclient.FindToken(a.tokenFile, *place, a.env)
	if err != nil {
		r.add(cToken, output.Fail, err.Error(), controlclient.TokenHint(*place))
		r.skipAfter(cToken, "no token")
		return nil, ""
	}
	r.add(cToken, output.Pass, "read from "+from, "")

	conn, err := controlclient.Dial(t, tok, from)
	if err != nil {
		r.add(cReach, output.Fail, err.Error(), "pass a valid --host")
		r.skipAfter(cReach, "daemon unreachable")
		return nil, ""
	}
	return conn, t.Addr
}

// doctorStatus asks the daemon for its status, which tells whether it is
// reachable and takes the token; nil when not, with the rest skipped.
func (a *app) doctorStatus(ctx context.Context, r *report, conn *controlclient.Conn, place controlclient.Place, addr string) *wslfwdv1.GetStatusResponse {
	sctx, cancel := a.deadline(ctx)
	status, err := conn.GetStatus(sctx, &wslfwdv1.GetStatusRequest{})
	cancel()
	switch code, unproven := controlclient.Code(err), controlclient.Unproven(err); {
	case err == nil:
		r.add(cReach, output.Pass, fmt.Sprintf("wslfwd-hostd %s at %s", status.GetVersion(), addr), "")
		r.add(cAccepted, output.Pass, "", "")
		return status
	case code == codes.Unauthenticated || code == codes.PermissionDenied || unproven != "":
		hint := controlclient.TokenHint(place)
		if strings.HasPrefix(unproven, tokentls.WhyPlaintext) {
			hint = "upgrade wslfwd-hostd: run this release's `wslfwd setup`"
		}
		r.add(cReach, output.Pass, addr, "")
		r.add(cAccepted, output.Fail, conn.Explain("get status", err).Error(), hint)
		r.skipAfter(cAccepted, "token refused")
	default:
		r.add(cReach, output.Fail, conn.Explain("get status", err).Error(), reachHint(place))
		r.skipAfter(cReach, "daemon unreachable")
	}
	return nil
}

// doctorLists checks the agents and the forwards the daemon lists.
func (a *app) doctorLists(ctx context.Context, r *report, conn *controlclient.Conn, place controlclient.Place) {
	actx, cancel := a.deadline(ctx)
	agents, err := conn.ListAgents(actx, &wslfwdv1.ListAgentsRequest{})
	cancel()
	if err != nil {
		r.add(cAgents, output.Fail, conn.Explain("list agents", err).Error(), "")
	} else {
		*r = append(*r, agentCheck(cAgents, place, agents))
		if a.listRunning != nil {
			*r = append(*r, a.distroChecks(ctx, agents)...)
		}
	}

	fctx, cancel := a.deadline(ctx)
	fwds, err := conn.ListForwards(fctx, &wslfwdv1.ListForwardsRequest{})
	cancel()
	if err != nil {
		r.add(cForwards, output.Fail, conn.Explain("list forwards", err).Error(), "")
	} else {
		*r = append(*r, forwardCheck(cForwards, fwds))
	}
}

// wslChecks are the checks made inside a distro, before the daemon is
// asked anything: a supported mode and, in NAT mode, a default gateway.
func wslChecks(p controlclient.Place) []output.Check {
	mode := output.Check{Name: "networking mode", Detail: p.ModeSource}
	switch p.Mode {
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_MIRRORED,
		wslfwdv1.NetworkingMode_NETWORKING_MODE_WSL1:
		mode.Verdict = output.Pass
	case wslfwdv1.NetworkingMode_NETWORKING_MODE_UNKNOWN:
		mode.Verdict = output.Warn
		mode.Hint = "wslfwd supports nat, mirrored and WSL1; check `wslinfo --networking-mode`"
	default:
		mode.Verdict = output.Fail
		mode.Detail = endpoint.ModeName(p.Mode) + " is not supported; " + p.ModeSource
		mode.Hint = "set networkingMode=nat (or mirrored) under [wsl2] in %UserProfile%\\.wslconfig, then run `wsl --shutdown`"
	}
	checks := []output.Check{mode}
	if p.Mode == wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT {
		gw := output.Check{Name: "default gateway"}
		if p.GatewayErr != nil {
			gw.Verdict = output.Fail
			gw.Detail = p.GatewayErr.Error()
			gw.Hint = "the distro's network is not up (see `ip route`); restart WSL with `wsl --shutdown` from Windows"
		} else {
			gw.Verdict = output.Pass
			gw.Detail = p.Gateway4.String() + " (the host)"
		}
		checks = append(checks, gw)
	}
	return checks
}

// agentCheck fails when no agent is connected or, inside WSL, when this
// distro's agent is not; an agent in its grace period is a warning.
func agentCheck(name string, p controlclient.Place, r *wslfwdv1.ListAgentsResponse) output.Check {
	const startHint = "start the agent in the distro: `sudo systemctl enable --now wslfwd-agent` (or run wslfwd-agent)"
	var connected []string
	var mine *wslfwdv1.Agent
	for _, ag := range r.GetAgents() {
		if ag.GetConnected() {
			connected = append(connected, ag.GetDistro())
		}
		if p.Kind == controlclient.WSL && ag.GetDistro() == p.Distro {
			mine = ag
		}
	}
	if p.Kind == controlclient.WSL && p.Distro != "" {
		switch {
		case mine == nil:
			return output.Check{Name: name, Verdict: output.Fail,
				Detail: fmt.Sprintf("no agent for this distro (%s); connected: %s", p.Distro, listOrNone(connected)), Hint: startHint}
		case !mine.GetConnected():
			return output.Check{Name: name, Verdict: output.Warn,
				Detail: fmt.Sprintf("the agent for %s is disconnected; its forwards go when its grace period ends", p.Distro),
				Hint:   "check the agent: `systemctl status wslfwd-agent`, `journalctl -u wslfwd-agent`"}
		}
	}
	if len(connected) == 0 {
		return output.Check{Name: name, Verdict: output.Fail, Detail: "no agent is connected", Hint: startHint}
	}
	return output.Check{Name: name, Verdict: output.Pass, Detail: strings.Join(connected, ", ")}
}

// forwardCheck fails on forwards in ERROR and warns on CONFLICT, naming up
// to three of each with their reasons.
func forwardCheck(name string, r *wslfwdv1.ListForwardsResponse) output.Check {
	var errs, conflicts []string
	active := 0
	for _, f := range r.GetForwards() {
		d := output.Describe(f) + ": " + f.GetReason()
		switch f.GetState() {
		case wslfwdv1.ForwardState_FORWARD_STATE_ERROR:
			errs = append(errs, d)
		case wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT:
			conflicts = append(conflicts, d)
		case wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE:
			active++
		}
	}
	switch {
	case len(errs) > 0:
		return output.Check{Name: name, Verdict: output.Fail,
			Detail: fmt.Sprintf("%d in ERROR: %s", len(errs), firstFew(errs)),
			Hint:   "see `wslfwd status` for problems and `wslfwd forwards` for every reason"}
	case len(conflicts) > 0:
		return output.Check{Name: name, Verdict: output.Warn,
			Detail: fmt.Sprintf("%d in CONFLICT: %s", len(conflicts), firstFew(conflicts)),
			Hint:   "another program or target holds the host port; stop it, or move the service with `wslfwd expose <port> --host-port N`"}
	case len(r.GetUnreported()) > 0:
		var over []string
		for _, u := range r.GetUnreported() {
			over = append(over, fmt.Sprintf("%s says it leaves %d out (limit %d)", u.GetDistro(), u.GetCount(), u.GetMax()))
		}
		return output.Check{Name: name, Verdict: output.Warn,
			Detail: "listeners not reported, so not forwarded: " + firstFew(over),
			Hint:   "the distro has more listeners than the daemon accepts from one agent: close those it does not need, or raise max_listeners_per_agent in the daemon's config"}
	default:
		return output.Check{Name: name, Verdict: output.Pass, Detail: fmt.Sprintf("%d active, none in ERROR or CONFLICT", active)}
	}
}

func firstFew(items []string) string {
	const n = 3
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:n], "; ") + fmt.Sprintf("; and %d more", len(items)-n)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// reachHint says what usually keeps the daemon out of reach from here.
func reachHint(p controlclient.Place) string {
	switch {
	case p.Kind == controlclient.WSL && p.Mode == wslfwdv1.NetworkingMode_NETWORKING_MODE_NAT:
		return fmt.Sprintf("start wslfwd-hostd on Windows; it must listen on the vEthernet (WSL) address, and the Windows firewall must allow TCP %d from WSL", endpoint.DefaultPort)
	case p.Kind == controlclient.Windows:
		return "start the wslfwd-hostd service (Services, or `sc start wslfwd-hostd` from an elevated prompt)"
	default:
		return "start wslfwd-hostd, or pass its address with --host"
	}
}

// problemCheck names the check a daemon problem is shown as, and its
// verdict. The firewall's problems are about LAN clients, whom no check
// from this machine reaches, so they get a name that says so; a firewall
// that could not be listed is a warning: nothing is known to be wrong.
func problemCheck(code string) (string, output.Verdict) {
	switch code {
	case "firewall-blocks-forwards", "firewall-sync-failed", "firewall-local-rules-ignored":
		return "LAN firewall", output.Fail
	case "firewall-audit-failed":
		return "LAN firewall", output.Warn
	}
	return "daemon problem " + code, output.Fail
}

// countOf writes n and the noun, plural unless n is 1 ("1 check", "3
// checks"), so that a single failure does not read "1 checks failed".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
