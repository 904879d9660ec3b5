package output

import (
	"fmt"
	"io"
	"strings"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Probe renders a probe: one row per path with PASS or FAIL, the latency
// and the reason for a failure, then a one-line verdict.
func Probe(w io.Writer, r *wslfwdv1.ProbeResponse) {
	fmt.Fprintf(w, "Probe of %s, echo port %d\n", orNone(r.GetDistro()), r.GetPort())
	tw := newTable(w)
	tw.row("PATH", "FROM", "TO", "RESULT", "LATENCY", "REASON")
	for _, p := range r.GetPaths() {
		result, latency := "FAIL", ""
		if p.GetOk() {
			result = "PASS"
			if p.GetLatency() != nil {
				latency = Latency(p.GetLatency().AsDuration())
			}
		}
		tw.row(p.GetName(), p.GetFrom(), p.GetTo(), result, latency, p.GetError())
	}
	tw.flush()
	failed := FailedPaths(r)
	switch {
	case len(r.GetPaths()) == 0:
		fmt.Fprintln(w, "No paths were tested.")
	case len(failed) == 0 && len(r.GetPaths()) == 1:
		fmt.Fprintln(w, "The path passed.")
	case len(failed) == 0:
		fmt.Fprintf(w, "All %d paths passed.\n", len(r.GetPaths()))
	default:
		fmt.Fprintf(w, "%d of %d paths failed: %s.\n", len(failed), len(r.GetPaths()), strings.Join(failed, ", "))
	}
}

// FailedPaths names the paths that did not pass.
func FailedPaths(r *wslfwdv1.ProbeResponse) []string {
	var failed []string
	for _, p := range r.GetPaths() {
		if !p.GetOk() {
			failed = append(failed, p.GetName())
		}
	}
	return failed
}
