package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

// selftest checks the whole path on a real Windows box, elevated: the
// service, the daemon, an agent in a distro, a test listener there, its
// forward, a connection to it at the host's LAN address, its firewall
// rule and the daemon's probe; then prints a report to paste into a bug.
// The steps are plain Go over selftestHost, so the sequence and the
// report are tested on Linux with a fake; selftest_windows.go is the
// real host.

// Exit codes of selftest beyond 0 (every check passed) and 1 (a check
// failed).
const (
	// exitNoTarget: nothing failed, but there was nothing to test the
	// forwarding with: no running distro with a connected agent (Wine,
	// a fresh install).
	exitNoTarget = 3
)

// exitError ends the program with code; the command has printed its
// verdict (selftest's report) already.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// selftestHost is what selftest does on the machine.
type selftestHost interface {
	// Facts are the report's header: versions, mode, settings.
	Facts(ctx context.Context) [][2]string
	Elevated() bool
	// Service says whether the service is installed and running.
	Service() (installed, running bool, err error)
	Install(ctx context.Context) error
	Start() error
	// Daemon connects to the installed service's daemon, admin token.
	Daemon() (wslfwdv1.ControlServiceClient, func(), error)
	RunningDistros(ctx context.Context) (wsl.DistroList, error)
	// StartListener runs a test TCP listener on port in the distro, as
	// the user; stop ends it and returns what it printed.
	StartListener(ctx context.Context, distro string, port uint16) (stop func() string, err error)
	LANAddress() (netip.Addr, error)
	// Connect opens and closes a TCP connection to addr.
	Connect(ctx context.Context, addr netip.AddrPort) error
	// FirewallRules names the rules in the Windows firewall whose
	// display name starts with "wslfwd " (firewall.Prefix).
	FirewallRules(ctx context.Context) ([]string, error)
	// FirewallOn says whether the service's config has firewall = true.
	FirewallOn() bool
	Uninstall(ctx context.Context) error
}

type selftestOptions struct {
	distro    string
	port      uint16
	install   bool          // install the service when it is not
	uninstall bool          // uninstall it at the end
	wait      time.Duration // for a forward, a rule
	poll      time.Duration // how often to look again meanwhile
}

// Verdicts of the report.
const (
	vPass = "PASS"
	vFail = "FAIL"
	vSkip = "SKIP"
)

type selftestCheck struct{ verdict, name, detail string }

// selftestReport is what selftest found, in order.
type selftestReport struct {
	facts    [][2]string
	checks   []selftestCheck
	noTarget bool
}

// add records a check; a detail of several lines (joined errors) is put
// on one, so every line of the report starts with its verdict.
func (r *selftestReport) add(verdict, name, format string, args ...any) {
	detail := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "; ")
	r.checks = append(r.checks, selftestCheck{verdict, name, detail})
}

// write prints the report: the header, a line per check, the counts.
func (r *selftestReport) write(w io.Writer) {
	fmt.Fprintln(w, "wslfwd selftest report (paste all of it into a bug report)")
	for _, f := range r.facts {
		fmt.Fprintf(w, "  %-16s %s\n", f[0]+":", f[1])
	}
	fmt.Fprintln(w)
	n := map[string]int{}
	for _, c := range r.checks {
		n[c.verdict]++
		line := c.verdict + "  " + c.name
		if c.detail != "" {
			line += ": " + c.detail
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nResult: PASS %d, FAIL %d, SKIP %d", n[vPass], n[vFail], n[vSkip])
	if r.noTarget && n[vFail] == 0 {
		fmt.Fprintf(w, "; nothing to forward was found (exit code %d)", exitNoTarget)
	}
	fmt.Fprintln(w)
}

// exitCode is 1 when a check failed, exitNoTarget when nothing could be
// forwarded, else 0.
func (r *selftestReport) exitCode() int {
	if slices.ContainsFunc(r.checks, func(c selftestCheck) bool { return c.verdict == vFail }) {
		return 1
	}
	if r.noTarget {
		return exitNoTarget
	}
	return 0
}

// runSelftest runs the checks in order; a failure that later checks
// depend on ends the run there (the report says what was skipped).
func runSelftest(ctx context.Context, h selftestHost, o selftestOptions) *selftestReport {
	r := &selftestReport{facts: h.Facts(ctx)}
	if !h.Elevated() {
		r.add(vFail, "elevated", "no: run selftest from an elevated prompt (Terminal (Admin))")
		return r
	}
	r.add(vPass, "elevated", "")
	if !r.service(ctx, h, o) {
		return r
	}
	c, done, err := h.Daemon()
	if err != nil {
		r.add(vFail, "daemon answers", "%v", err)
		return r
	}
	defer done()
	if r.daemon(ctx, c) {
		if distro := r.pickDistro(ctx, h, c, o.distro); distro != "" {
			r.forward(ctx, h, c, distro, o)
			r.probe(ctx, c, distro)
		}
	}
	if o.uninstall {
		if err := h.Uninstall(ctx); err != nil {
			r.add(vFail, "uninstall", "%v", err)
		} else {
			r.add(vPass, "uninstall", "service, forwards and rules removed")
		}
	}
	return r
}

// service installs (if asked) and starts the service.
func (r *selftestReport) service(ctx context.Context, h selftestHost, o selftestOptions) bool {
	installed, running, err := h.Service()
	switch {
	case err != nil:
		r.add(vFail, "service", "%v", err)
		return false
	case !installed && !o.install:
		r.add(vFail, "service", "not installed (and --no-install given): run wslfwd-hostd install")
		return false
	case !installed:
		if err := h.Install(ctx); err != nil {
			r.add(vFail, "service", "install: %v", err)
			return false
		}
		r.add(vPass, "service", "installed now")
	default:
		r.add(vPass, "service", "installed")
	}
	if running {
		r.add(vPass, "service running", "")
		return true
	}
	if err := h.Start(); err != nil {
		r.add(vFail, "service running", "start: %v", err)
		return false
	}
	r.add(vPass, "service running", "started now")
	return true
}

// daemon asks for the daemon's status and reports its problems.
func (r *selftestReport) daemon(ctx context.Context, c wslfwdv1.ControlServiceClient) bool {
	st, err := c.GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
	if err != nil {
		r.add(vFail, "daemon answers", "%v", err)
		return false
	}
	r.facts = append(r.facts, [2]string{"daemon", fmt.Sprintf("%s, backend %s, expose %s, %s", st.GetVersion(), st.GetBackend(), st.GetExposeAddress(), st.GetOs())})
	r.add(vPass, "daemon answers", "listening on %s", strings.Join(st.GetListenAddresses(), ", "))
	if len(st.GetProblems()) == 0 {
		r.add(vPass, "daemon problems", "none")
	}
	for _, p := range st.GetProblems() {
		r.add(vFail, "daemon problem "+p.GetCode(), "%s (%s)", p.GetMessage(), p.GetHint())
	}
	return true
}

// pickDistro chooses the distro to test: the one asked for, else the
// first running one whose agent is connected. "" when there is none.
func (r *selftestReport) pickDistro(ctx context.Context, h selftestHost, c wslfwdv1.ControlServiceClient, want string) string {
	running, err := h.RunningDistros(ctx)
	if err != nil {
		r.add(vSkip, "distro", "cannot list the running distros: %v", err)
		r.noTarget = true
		return ""
	}
	agents, err := c.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
	if err != nil {
		r.add(vFail, "distro", "list agents: %v", err)
		return ""
	}
	connected := map[string]*wslfwdv1.Agent{}
	for _, a := range agents.GetAgents() {
		if a.GetConnected() {
			connected[strings.ToLower(a.GetDistro())] = a
		}
	}
	for _, d := range running.Names {
		a, ok := connected[strings.ToLower(d)]
		if (want == "" || strings.EqualFold(d, want)) && ok {
			r.facts = append(r.facts, [2]string{"distro", fmt.Sprintf("%s, agent %s, mode %s", d, a.GetAgentVersion(), modeName(a.GetNetworkingMode()))})
			r.add(vPass, "distro", "%s runs, its agent is connected", d)
			return a.GetDistro()
		}
	}
	r.noTarget = true
	switch {
	case len(running.Names) == 0:
		r.add(vSkip, "distro", "none running (wsl.exe said: %s): start one with its agent, then run selftest again", orNothing(running.Said))
	case want != "":
		r.add(vSkip, "distro", "%s is not running with a connected agent (running: %s)", want, strings.Join(running.Names, ", "))
	default:
		r.add(vSkip, "distro", "no running distro has a connected agent (running: %s): give it its token (wslfwd-hostd token --agent) and start wslfwd-agent", strings.Join(running.Names, ", "))
	}
	return ""
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// modeName is a networking mode as wslinfo prints it.
func modeName(m wslfwdv1.NetworkingMode) string { return modeWord(m.String(), "NETWORKING_MODE_") }

// modeWord is an enum value's name without its prefix, lower case.
func modeWord(name, prefix string) string { return strings.ToLower(strings.TrimPrefix(name, prefix)) }
