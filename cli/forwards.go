package main

import (
	"context"
	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

func newForwardsCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "forwards",
		Short: "List forwards, and with --all the listeners not forwarded and why",
		Long: `List every forward: protocol, host address:port it listens on, the distro
address:port it connects to, the distro, the listening process, the backend
carrying it and its state (PENDING, ACTIVE, CONFLICT, BLOCKED, ERROR,
DIRECT). With --all, listeners that are not forwarded are listed too, each
with the reason.`,
		Example: `  wslfwd forwards
  wslfwd forwards --all
  wslfwd forwards -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(cmd.Context(), a, "list forwards",
				func(ctx context.Context, c *controlclient.Conn) (*wslfwdv1.ListForwardsResponse, error) {
					return c.ListForwards(ctx, &wslfwdv1.ListForwardsRequest{All: all})
				},
				func(resp *wslfwdv1.ListForwardsResponse) { output.Forwards(a.stdout, resp, all) })
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "also list listeners that are not forwarded, with the reason")
	return cmd
}
