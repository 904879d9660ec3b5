//go:build linux

// Command lab is wslfwd's test bed: network namespaces stand in for a LAN
// client, the Windows host and a WSL2 distro, and the real daemon, agent and
// CLI run in them (see lab/netlab and lab/labrun). It needs root.
//
//	go run ./lab demo    a service in the simulated WSL answers on the simulated LAN
//	go run ./lab up      keep such a lab running to try things in, until Ctrl-C
//	go run ./lab exec wsl -- COMMAND   run a command in a running lab's namespace
//	go run ./lab clean   remove namespaces a crashed run left behind
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// commands builds the subcommands. Files that add one (bench, ...) append
// their constructor here from an init function, so they need not edit this
// file.
var commands = []func() *cobra.Command{demoCmd, upCmd, execCmd, cleanCmd, serveHTTPCmd}

func main() {
	// SIGINT and SIGTERM cancel the context; the commands then tear their
	// lab down before returning, so an interrupted run leaves nothing.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := &cobra.Command{
		Use:           "lab",
		Short:         "wslfwd's network-namespace test bed (Linux, root)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	for _, c := range commands {
		root.AddCommand(c())
	}
	err := root.ExecuteContext(ctx)
	stop()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(err, errInterrupted):
		os.Exit(130) // said already; 130 is a shell's status for Ctrl-C
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode()) // lab exec: the command's own status
	default:
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}
