//go:build linux

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/labrun"
)

func upCmd() *cobra.Command {
	var keepLogs bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Keep a lab running (daemon, agent, a sample service) to try wslfwd in, until Ctrl-C",
		Long: `Builds and starts what the demo does (the daemon in winhost, an agent in wsl,
an HTTP service in wsl forwarded on the host), prints commands to try against
it (lab exec runs a command in one of its namespaces; the CLI talks to its
daemon), and keeps it all running until Ctrl-C, then tears everything down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSession(cmd.Context(), cmd.OutOrStdout(), keepLogs,
				func(*session) string { return "lab stopped and cleaned up" }, up)
		},
	}
	cmd.Flags().BoolVar(&keepLogs, "keep-logs", false, "keep the logs directory after Ctrl-C")
	return cmd
}

// readyLine starts the line up prints once the lab is ready to try.
const readyLine = "ready:"

// up starts the sample service, prints what to try and waits for Ctrl-C,
// or for the daemon to die.
func up(ss *session) error {
	if err := ss.startService(); err != nil {
		return err
	}
	fmt.Fprintf(ss.out, "\nTry, as root, from the work tree:\n\n%s\n", tryCommands(ss))
	fmt.Fprintf(ss.out, "%s the lab runs until Ctrl-C (logs in %s)\n", readyLine, ss.dir)
	select {
	case <-ss.ctx.Done():
		fmt.Fprintln(ss.out)
		return nil
	case <-ss.env.Daemon.Done():
		return errors.New("the daemon exited:\n" + ss.env.Logs(30))
	}
}

// tryCommands are the commands up suggests, each a comment line and the
// command, which takes no shell quoting (the test runs them as printed).
func tryCommands(ss *session) string {
	l, e := ss.env.Lab, ss.env
	cli := fmt.Sprintf("%s --host %s --token-file %s", e.Bin.CLI, labrun.DaemonLoopback, e.TokenFile)
	lines := []string{
		"# the distro's listeners (the sample service is pid " + fmt.Sprint(ss.svc.Pid()) + ")",
		labExec(l.WSL.Name, "ss -ltnp"),
		"# the service from the LAN, through the forward on the host",
		labExec(l.LAN.Name, "curl -s "+viaHost()),
		"# the forwards, from the CLI on the host (try agents, status, watch)",
		labExec(l.WinHost.Name, cli+" forwards"),
		"# another service in the distro (Ctrl-C it): watch it come and go",
		labExec(l.WSL.Name, "python3 -m http.server 8000"),
	}
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

func labExec(ns, command string) string { return "go run ./lab exec " + ns + " -- " + command }
