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

// MaxInput bounds what parse reads. `netsh interface portproxy show all`
// prints about 60 bytes an entry, so 1 MiB is thousands of entries; a
// larger input is the wrong file, and decoding and splitting it would
// take many times its size in memory.
const MaxInput = 1 << 20

// readInput reads the named file, or stdin for "-" or no argument, up to
// MaxInput bytes.
func readInput(stdin io.Reader, args []string) ([]byte, error) {
	from, r := "stdin", stdin
	if len(args) > 0 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, fmt.Errorf("read netsh output: %w", err)
		}
		defer f.Close()
		from, r = args[0], f
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read netsh output from %s: %w", from, err)
	}
	if len(b) > MaxInput {
		return nil, fmt.Errorf("%s is larger than %d KiB, far more than netsh prints: is it `netsh interface portproxy show all` output?",
			from, MaxInput>>10)
	}
	return b, nil
}
