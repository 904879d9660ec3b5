// Command wslfwd-hostd keeps host forwards in step with the services in WSL.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "wslfwd-hostd",
		Short:         "wslfwd-hostd keeps host forwards in step with the services in WSL",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "wslfwd-hostd", version.Version)
		},
	})
	root.AddCommand(newRunCommand())
	root.AddCommand(platformCommands()...)
	if err := root.ExecuteContext(context.Background()); err != nil {
		// A command that printed its own verdict (selftest) ends with its
		// exit code and nothing more.
		var code exitError
		if errors.As(err, &code) {
			os.Exit(code.code)
		}
		fmt.Fprintln(os.Stderr, "wslfwd-hostd:", err)
		os.Exit(1)
	}
}
