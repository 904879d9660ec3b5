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
