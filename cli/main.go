// Command wslfwd queries and steers the wslfwd daemon.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "wslfwd",
		Short:         "wslfwd queries and steers the wslfwd daemon",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "wslfwd", version.Version)
		},
	})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wslfwd:", err)
		os.Exit(1)
	}
}
