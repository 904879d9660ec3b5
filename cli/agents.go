package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

func newAgentsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "agents",
		Short: "List the agents the daemon knows",
		Long: `List the agents (one per WSL distro) the daemon knows: the distro, its
networking mode, its address, its default gateway, how many listeners it
reported, and whether its session is open. A disconnected agent is listed
while its grace period runs; its forwards stay until then. On Windows it
then lists the running distros without a connected agent, with the
command that sets one up.`,
		Example: `  wslfwd agents
  wslfwd agents -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd.Context(), a, "list agents",
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.ListAgentsResponse, error) {
					return c.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
				},
				func(resp *wslfwdv1.ListAgentsResponse) {
					output.Agents(a.stdout, resp, a.now())
					if missing := a.withoutAgent(cmd.Context(), resp); len(missing) > 0 {
						fmt.Fprintln(a.stdout, "\nRunning distros without an agent (their services are not forwarded):")
						for _, d := range missing {
							fmt.Fprintf(a.stdout, "  %s: %s\n", d, setupFix(d))
						}
					}
				})
		},
	}
}

// withoutAgent names the running distros (Docker Desktop's left out)
// that have no connected agent. Only Windows can list distros; elsewhere,
// or when wsl.exe fails, it names none: this is advice beside the answer,
// and doctor reports a failing wsl.exe.
func (a *app) withoutAgent(ctx context.Context, agents *wslfwdv1.ListAgentsResponse) []string {
	if a.listRunning == nil {
		return nil
	}
	ctx, cancel := a.deadline(ctx)
	defer cancel()
	running, err := a.listRunning(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range running.Names {
		if !wsl.Infrastructure(d) && !hasAgent(agents, d) {
			out = append(out, d)
		}
	}
	return out
}

// hasAgent reports whether the daemon lists a connected agent for distro.
func hasAgent(agents *wslfwdv1.ListAgentsResponse, distro string) bool {
	for _, ag := range agents.GetAgents() {
		if ag.GetConnected() && strings.EqualFold(ag.GetDistro(), distro) {
			return true
		}
	}
	return false
}

// setupFix is the command that puts an agent into distro.
func setupFix(distro string) string { return "wslfwd setup --distro " + distro }
