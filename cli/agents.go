package main

import (
	"context"
	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

func newAgentsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "agents",
		Short: "List the agents the daemon knows",
		Long: `List the agents (one per WSL distro) the daemon knows: the distro, its
networking mode, its address, its default gateway, how many listeners it
reported, and whether its session is open. A disconnected agent is listed
while its grace period runs; its forwards stay until then.`,
		Example: `  wslfwd agents
  wslfwd agents -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd.Context(), a, "list agents",
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.ListAgentsResponse, error) {
					return c.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
				},
				func(resp *wslfwdv1.ListAgentsResponse) { output.Agents(a.stdout, resp, a.now()) })
		},
	}
}
