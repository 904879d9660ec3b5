//go:build !windows

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/hostd-windows/portproxy/parsecmd"
)

// platformCommands are the Windows service commands, which here only say
// where they work, and `portproxy parse`, which works everywhere (a user
// can paste another machine's netsh output).
func platformCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range []struct{ use, short string }{
		{"install", "Install the Windows service (Windows only)"},
		{"uninstall", "Remove the Windows service (Windows only)"},
		{"start", "Start the Windows service (Windows only)"},
		{"stop", "Stop the Windows service (Windows only)"},
		{"token", "Print a token for the agent or the CLI (Windows only)"},
		{"selftest", "Check install, forwarding and firewall on this machine (Windows only)"},
	} {
		cmds = append(cmds, &cobra.Command{
			Use:                c.use,
			Short:              c.short,
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return fmt.Errorf("%s works only on Windows; here, run the daemon in the foreground with wslfwd-hostd run", c.use)
			},
		})
	}
	return append(cmds, parsecmd.New())
}
