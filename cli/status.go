package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's health and standing problems",
		Long: `Show the daemon's version, uptime, backend, the addresses it listens on,
the address forwards listen on, how many agents are connected, how many
forwards are in each state, reconciles, netsh runs and the time from an
agent's message to an active forward (-o json has every figure, as the
daemon's metrics_listen endpoint serves them), and any standing problem
with how to fix it.
It warns about connected agents of another version than the daemon's, and
on Windows about running distros without a connected agent.`,
		Example: `  wslfwd status
  wslfwd status -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd.Context(), a, "get status",
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.GetStatusResponse, error) {
					return c.GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
				},
				func(resp *wslfwdv1.GetStatusResponse) {
					output.Status(a.stdout, resp, a.now())
					a.warnAgents(cmd.Context(), resp.GetVersion())
				})
		},
	}
}

// warnAgents warns about connected agents whose version is not the
// daemon's (adjacent versions work together, but setup updates both), and
// about running distros without a connected agent (Windows only: see
// withoutAgent). Status has said what it must by then, so a failure to
// list the agents only leaves the warnings out.
func (a *app) warnAgents(ctx context.Context, daemonVersion string) {
	agents, err := a.listAgents(ctx)
	if err != nil {
		return
	}
	for _, ag := range output.OtherVersions(agents.GetAgents(), daemonVersion) {
		fmt.Fprintf(a.stdout, "WARNING: the agent in %s is version %s, the daemon %s: %s\n",
			ag.GetDistro(), ag.GetAgentVersion(), daemonVersion, setupFix(ag.GetDistro()))
	}
	if a.listRunning == nil {
		return
	}
	for _, d := range a.withoutAgent(ctx, agents) {
		fmt.Fprintf(a.stdout, "WARNING: distro %s runs without an agent, so its services are not forwarded: %s\n", d, setupFix(d))
	}
}
