package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/version"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version, and the daemon's when reachable",
		Long: `Print this CLI's version and, when the daemon can be reached, its version.
An unreachable daemon is reported but is not a failure.`,
		Example: `  wslfwd version
  wslfwd version -o json`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep := output.VersionReport{CLIVersion: version.Version}
			err := a.withConn(func(c *controlclient.Conn) error {
				rep.DaemonAddress = c.Target.Addr
				ctx, cancel := a.deadline(cmd.Context())
				defer cancel()
				resp, err := c.GetStatus(ctx, &wslfwdv1.GetStatusRequest{})
				if err != nil {
					return c.Explain("get status", err)
				}
				rep.DaemonVersion = resp.GetVersion()
				return nil
			})
			if err != nil {
				rep.DaemonError = err.Error()
			}
			if a.format == output.JSON {
				return output.WritePlainJSON(a.stdout, rep)
			}
			fmt.Fprintln(a.stdout, "wslfwd", rep.CLIVersion)
			if rep.DaemonError != "" {
				fmt.Fprintln(a.stdout, "daemon: unknown:", rep.DaemonError)
			} else {
				fmt.Fprintf(a.stdout, "wslfwd-hostd %s at %s\n", rep.DaemonVersion, rep.DaemonAddress)
			}
			return nil
		},
	}
}
