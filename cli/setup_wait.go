package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/version"
)

// agentReady reports whether the daemon lists an agent for distro that
// is connected and runs this release (an agent of an older release is
// being replaced), and returns it.
func agentReady(resp *wslfwdv1.ListAgentsResponse, distro string) (*wslfwdv1.Agent, bool) {
	var found *wslfwdv1.Agent
	for _, ag := range resp.GetAgents() {
		if strings.EqualFold(ag.GetDistro(), distro) {
			found = ag
			if ag.GetConnected() && ag.GetAgentVersion() == version.Version {
				return ag, true
			}
		}
	}
	return found, false
}

// waitAgents polls the daemon until every distro in want has its agent
// connected, or e.wait passes, saying each one as it connects; then it
// returns the table's rows, with failed's distros (whose install failed)
// and why.
func (e *setupEnv) waitAgents(ctx context.Context, want []string, failed map[string]error) []output.SetupRow {
	var waiting []string
	for _, d := range want {
		if failed[d] == nil {
			waiting = append(waiting, d)
		}
	}
	var last *wslfwdv1.ListAgentsResponse
	var lastErr error
	if len(waiting) > 0 {
		e.say("Waiting up to %s for the agents to connect: %s", output.Duration(e.wait), strings.Join(waiting, ", "))
	}
	deadline := time.Now().Add(e.wait)
	for len(waiting) > 0 && time.Now().Before(deadline) {
		last, lastErr = e.listAgents(ctx)
		var still []string
		for _, d := range waiting {
			if _, ok := agentReady(last, d); ok {
				e.say("  %s: connected", d)
			} else {
				still = append(still, d)
			}
		}
		if waiting = still; len(waiting) > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(e.poll):
			}
		}
	}
	rows := make([]output.SetupRow, 0, len(want))
	for _, d := range want {
		rows = append(rows, setupRow(d, last, lastErr, failed[d], e.wait))
	}
	return rows
}

// setupRow is one distro's row: what its agent said, or why it is not
// connected.
func setupRow(distro string, resp *wslfwdv1.ListAgentsResponse, listErr, installErr error, waited time.Duration) output.SetupRow {
	row := output.SetupRow{Distro: distro}
	if installErr != nil {
		row.Status = "not installed: " + installErr.Error()
		return row
	}
	ag, ok := agentReady(resp, distro)
	if ag != nil {
		row.Version, row.Mode = ag.GetAgentVersion(), output.Mode(ag.GetNetworkingMode())
	}
	switch {
	case ok:
		row.Status = "connected"
	case listErr != nil:
		row.Status = "unknown: the daemon did not answer: " + listErr.Error()
	case ag != nil && ag.GetConnected():
		row.Status = fmt.Sprintf("connected, but runs version %s, not %s: restart the distro (wsl --terminate %s)", ag.GetAgentVersion(), version.Version, distro)
	default:
		row.Status = fmt.Sprintf("not connected after %s%s", output.Duration(waited), refusalOf(resp, distro))
	}
	return row
}

// refusalOf is the daemon's last refusal of the distro's agent, if any,
// as a clause.
func refusalOf(resp *wslfwdv1.ListAgentsResponse, distro string) string {
	for _, r := range resp.GetRefusals() {
		if strings.EqualFold(r.GetDistro(), distro) {
			return ": the daemon refused it: " + r.GetReason()
		}
	}
	return ""
}
