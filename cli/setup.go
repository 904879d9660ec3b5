package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

const setupLong = `Setup installs wslfwd on this Windows machine and in every WSL 2 distro of
the user who runs it (distros belong to a Windows user, so run it from your
own prompt, not an elevated one):

  1. lists your WSL 2 distros (WSL 1 and Docker Desktop's are skipped);
  2. asks for administrator rights once (UAC) and, elevated, installs or
     updates the wslfwd-hostd service from the wslfwd-hostd.exe beside
     wslfwd.exe (skipped when the installed copy is the same and runs),
     reads the agents' token, and in each distro runs the wslfwd-agent of
     its architecture (linux-amd64 or linux-arm64 beside wslfwd.exe) as
     'wslfwd-agent install --token-stdin', which puts it in
     /usr/local/bin, stores the token, makes it start at boot and starts it;
  3. waits up to 30s for every agent to connect and prints one row per
     distro: agent version, networking mode, connected or why not.

Running it again changes nothing that is right and fixes what is not; after
a new release it replaces the programs and restarts the service and agents.
Daemon flags after -- are the service's (as for 'wslfwd-hostd install');
without them an installed service keeps its own.

--uninstall runs 'wslfwd-agent uninstall' in every distro that has it, then
(elevated) 'wslfwd-hostd uninstall', which removes the service, the
portproxy entries wslfwd made and its firewall rules, and deletes the
programs in Program Files. The state directory (tokens, ledger, log) stays
unless --purge is given.`

// setupOptions are setup's flags.
type setupOptions struct {
	distro     string
	uninstall  bool
	purge      bool
	daemonArgs []string
}

// agentWait bounds how long setup waits for the agents to connect.
const agentWait = 30 * time.Second

func newSetupCmd(a *app) *cobra.Command {
	var o setupOptions
	cmd := &cobra.Command{
		Use:   "setup [--distro NAME] [--uninstall [--purge]] [-- daemon flags]",
		Short: "Install or update the service and the agent of every WSL 2 distro (Windows)",
		Long:  setupLong,
		Example: `  wslfwd setup
  wslfwd setup --distro Ubuntu-24.04
  wslfwd setup -- --config C:\ProgramData\wslfwd\wslfwd.toml
  wslfwd setup --uninstall --purge`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(cmd, args); err != nil {
				return err
			}
			e, err := newSetupEnv(a)
			if err != nil {
				return err
			}
			return e.setup(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.distro, "distro", "", "set up only this distro (the service too)")
	f.BoolVar(&o.uninstall, "uninstall", false, "remove the agents, the service, its forwards and rules, and the programs")
	f.BoolVar(&o.purge, "purge", false, "with --uninstall: delete the state directory too")
	return cmd
}

// check takes the daemon flags after -- and refuses combinations that
// mean nothing.
func (o *setupOptions) check(cmd *cobra.Command, args []string) error {
	dash := cmd.ArgsLenAtDash()
	if len(args) > 0 && dash != 0 {
		return usagef("unexpected argument %q: daemon flags go after --", args[0])
	}
	o.daemonArgs = args
	switch {
	case o.purge && !o.uninstall:
		return usagef("--purge goes with --uninstall")
	case o.uninstall && len(o.daemonArgs) > 0:
		return usagef("--uninstall takes no daemon flags")
	case o.distro != "" && !wsl.ValidName(o.distro):
		return usagef("--distro %q: not a distro name", o.distro)
	}
	return nil
}

// setupEnv is what setup needs of Windows. setup_windows.go makes the
// real one; the tests fake every function, so that all but those calls
// runs and is tested on Linux.
type setupEnv struct {
	out io.Writer
	// wsl runs wsl.exe with args, stdin on its standard input.
	wsl func(ctx context.Context, stdin []byte, args ...string) (wsl.Result, error)
	// exeDir is the folder of the running wslfwd.exe: where a release
	// keeps wslfwd-hostd.exe and the Linux agents.
	exeDir string
	// installDir is where the service's programs go
	// (%ProgramFiles%\wslfwd) and stateDir the daemon's default state
	// directory (%ProgramData%\wslfwd).
	installDir, stateDir string
	// elevated reports whether this process has administrator rights.
	elevated bool
	// elevate runs this program again with administrator rights (UAC)
	// and args, copies what it prints to out, and returns its exit code.
	elevate func(ctx context.Context, args []string) (int, error)
	// service reads the installed service from the service manager.
	service func() (installedState, error)
	// run runs a program to its end and returns its standard output; the
	// error quotes its standard error.
	run func(ctx context.Context, stdin []byte, exe string, args ...string) ([]byte, error)
	// remove deletes one file or empty folder.
	remove func(path string) error
	// removeAll deletes a folder and what it holds.
	removeAll func(path string) error
	// listAgents asks the daemon for its agents.
	listAgents func(ctx context.Context) (*wslfwdv1.ListAgentsResponse, error)
	// wait bounds the wait for agents; poll is the time between looks.
	wait, poll time.Duration
}

// say prints one line of progress.
func (e *setupEnv) say(format string, args ...any) {
	fmt.Fprintf(e.out, format+"\n", args...)
}

// sayLines prints a program's output, each line indented under what ran it.
func (e *setupEnv) sayLines(prefix string, out []byte) {
	for _, line := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
		if line = strings.TrimRight(line, "\r"); line != "" {
			e.say("  %s%s", prefix, line)
		}
	}
}
