package output

import (
	"fmt"
	"io"
	"strings"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/enumtext"
)

// Status renders GetStatus as labelled lines, then the standing problems
// each with its fix.
func Status(w io.Writer, s *wslfwdv1.GetStatusResponse, now time.Time) {
	line := func(label, value string) {
		if value == "" {
			value = none
		}
		fmt.Fprintf(w, "%-11s %s\n", label+":", value)
	}
	daemon := s.GetVersion()
	if daemon == "" {
		daemon = "unknown version"
	}
	if s.GetOs() != "" {
		daemon += " on " + s.GetOs()
	}
	if s.GetStartedAt() != nil {
		daemon += ", up " + Duration(now.Sub(s.GetStartedAt().AsTime()))
	}
	line("Daemon", daemon)
	line("Backend", s.GetBackend())
	line("Listening", strings.Join(s.GetListenAddresses(), ", "))
	line("Expose", s.GetExposeAddress())
	line("Agents", fmt.Sprintf("%d connected", s.GetAgentsConnected()))
	line("Forwards", StateCounts(s.GetForwardsByState()))
	figures(line, s.GetMetrics())
	if len(s.GetProblems()) == 0 {
		line("Problems", "none")
		return
	}
	line("Problems", fmt.Sprint(len(s.GetProblems())))
	for _, p := range s.GetProblems() {
		fmt.Fprintf(w, "  %s: %s\n", p.GetCode(), p.GetMessage())
		if p.GetHint() != "" {
			fmt.Fprintf(w, "    fix: %s\n", p.GetHint())
		}
	}
}

// figures prints a few of the daemon's figures (older daemons send
// none): the rest are in -o json and on the metrics endpoint.
func figures(line func(label, value string), m *wslfwdv1.DaemonMetrics) {
	if m == nil {
		return
	}
	full, inc := m.GetReconcileFull(), m.GetReconcileIncremental()
	if n := full.GetCount() + inc.GetCount(); n > 0 {
		line("Reconciles", fmt.Sprintf("%d (%d full), median full %s, incremental %s", n, full.GetCount(), median(full), median(inc)))
	}
	if m.GetNetshRuns() > 0 {
		line("netsh", fmt.Sprintf("%d runs, %d failed", m.GetNetshRuns(), m.GetNetshFailures()))
	}
	if h := m.GetEventToActive(); h.GetCount() > 0 {
		line("To active", fmt.Sprintf("median %s over %d forwards, from the agent's message", median(h), h.GetCount()))
	}
	if r := turnedAway(m); r != "" {
		line("Refused", r)
	}
}

// turnedAway summarizes what the daemon refused and the connections it
// closed, so an attack on it shows: "12 calls (Unauthenticated 12);
// closed 39457 connections past the limits, 3 at the pending timeout".
// It is "" when nothing was.
func turnedAway(m *wslfwdv1.DaemonMetrics) string {
	var refused []string
	if n, by := byCode(m.GetCallRefusals()); n > 0 {
		refused = append(refused, fmt.Sprintf("%d calls (%s)", n, by))
	}
	if n, by := byCode(m.GetAgentRefusals()); n > 0 {
		refused = append(refused, fmt.Sprintf("%d agent sessions (%s)", n, by))
	}
	closed := closedConns(m.GetConnectionsClosedPastLimits(), m.GetConnectionsClosedPendingTimeout())
	switch {
	case len(refused) == 0 && closed == "":
		return ""
	case len(refused) == 0:
		return "no calls; " + closed
	case closed == "":
		return strings.Join(refused, ", ")
	}
	return strings.Join(refused, ", ") + "; " + closed
}

// closedConns says how many connections the daemon closed past the caps
// and at the pending timeout; "" when none.
func closedConns(limit, timeout uint64) string {
	switch {
	case limit > 0 && timeout > 0:
		return fmt.Sprintf("closed %d connections past the limits, %d at the pending timeout", limit, timeout)
	case limit > 0:
		return fmt.Sprintf("closed %d connections past the limits", limit)
	case timeout > 0:
		return fmt.Sprintf("closed %d connections at the pending timeout", timeout)
	}
	return ""
}

// byCode sums counts by code and lists them: "Unauthenticated 12,
// PermissionDenied 1" in the daemon's order.
func byCode(rs []*wslfwdv1.RefusalCount) (total uint64, list string) {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		total += r.GetCount()
		parts = append(parts, fmt.Sprintf("%s %d", r.GetCode(), r.GetCount()))
	}
	return total, strings.Join(parts, ", ")
}

// median says within which bucket the median of h lies: "≤ 1ms", "> 10s"
// past the last bound, "-" when h is empty.
func median(h *wslfwdv1.DurationHistogram) string {
	if h.GetCount() == 0 {
		return none
	}
	half := (h.GetCount() + 1) / 2
	for _, b := range h.GetBuckets() {
		if b.GetCount() >= half {
			return "≤ " + seconds(b.GetUpperBoundSeconds())
		}
	}
	bs := h.GetBuckets()
	if len(bs) == 0 {
		return none
	}
	return "> " + seconds(bs[len(bs)-1].GetUpperBoundSeconds())
}

func seconds(s float64) string { return time.Duration(s * float64(time.Second)).String() }

// StateCounts prints "3 active, 1 conflict" in the daemon's order, leaving
// out empty states; "none" when there are no forwards.
func StateCounts(counts []*wslfwdv1.StateCount) string {
	var parts []string
	for _, c := range counts {
		if c.GetCount() == 0 {
			continue
		}
		name := strings.ToLower(enumtext.State(c.GetState()))
		if name == "" {
			name = "unknown"
		}
		parts = append(parts, fmt.Sprintf("%d %s", c.GetCount(), name))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// OtherVersions lists the connected agents whose version differs from the
// daemon's; an empty version (on either side) says nothing, so it is left
// out.
func OtherVersions(agents []*wslfwdv1.Agent, daemonVersion string) []*wslfwdv1.Agent {
	var out []*wslfwdv1.Agent
	for _, a := range agents {
		if a.GetConnected() && daemonVersion != "" && a.GetAgentVersion() != "" && a.GetAgentVersion() != daemonVersion {
			out = append(out, a)
		}
	}
	return out
}
