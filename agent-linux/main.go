// Command wslfwd-agent reports a WSL distro's network state and listeners to the wslfwd daemon.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "wslfwd-agent",
		Short:         "wslfwd-agent reports a WSL distro's network state and listeners to the wslfwd daemon",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "wslfwd-agent", version.Version)
		},
	})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wslfwd-agent:", err)
		os.Exit(1)
	}
}
