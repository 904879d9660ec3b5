// Package parsecmd is the `wslfwd-hostd portproxy parse` command, which
// works on every OS: for support, a user pastes the netsh output of another
// machine and sees what wslfwd reads in it.
package parsecmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
)

// New returns the `portproxy` command with its `parse` subcommand.
func New() *cobra.Command {
	cmd := &cobra.Command{Use: "portproxy", Short: "Inspect portproxy entries"}
	cmd.AddCommand(&cobra.Command{
		Use:   "parse [FILE|-]",
		Short: "Parse `netsh interface portproxy show all` output (a file, or - for stdin) and print it as JSON",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := readInput(cmd.InOrStdin(), args)
			if err != nil {
				return err
			}
			return portproxy.WriteShowJSON(cmd.OutOrStdout(), in)
		},
	})
	return cmd
}

// readInput reads the named file, or stdin for "-" or no argument.
func readInput(stdin io.Reader, args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return nil, fmt.Errorf("read netsh output: %w", err)
	}
	return b, nil
}
