package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

// setup runs as the user who typed it. Only the user sees their distros,
// so the agents are removed here; what needs administrator rights (the
// service, the agents' token and handing it over) runs elevated.
func (e *setupEnv) setup(ctx context.Context, o setupOptions) error {
	names, err := e.listNames(ctx)
	if err != nil {
		return err
	}
	if o.distro != "" && !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, o.distro) }) {
		return fmt.Errorf("no distro %q: wsl.exe lists %s", o.distro, orNoneList(names))
	}
	if o.uninstall {
		if err := e.removeAgents(ctx, o.distro); err != nil {
			return err
		}
		if o.distro != "" {
			e.say("The service stays: --distro removes one distro's agent only.")
			return nil
		}
	}
	if e.elevated {
		return e.work(ctx, o)
	}
	e.say("Asking for administrator rights (UAC) to %s.", map[bool]string{
		false: "install the service and hand the agents their token",
		true:  "remove the service",
	}[o.uninstall])
	code, err := e.elevate(ctx, workerArgs(o, names))
	if err != nil {
		return err
	}
	if code != 0 {
		return shownError{fmt.Errorf("the elevated setup exited with status %d", code)}
	}
	return nil
}

// removeAgents runs `wslfwd-agent uninstall` in every distro that has
// the agent (WSL 1 ones too: someone may have put one there).
func (e *setupEnv) removeAgents(ctx context.Context, only string) error {
	ds, err := e.discover(ctx, only)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if d.err != nil {
			errs = append(errs, d.err)
			continue
		}
		had, err := e.uninstallAgent(ctx, d)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !had:
			e.say("%s: no agent.", d.name)
		}
	}
	return errors.Join(errs...)
}

// work does what needs administrator rights: the service, then each
// distro's agent with the token, then the wait and the table. With
// --uninstall, only the service and the programs.
func (e *setupEnv) work(ctx context.Context, o setupOptions) error {
	if o.uninstall {
		return e.removeService(ctx, o.purge)
	}
	ds, err := e.discover(ctx, o.distro)
	if err != nil {
		return err
	}
	targets, err := e.targets(ds, o.distro)
	if err != nil {
		return err
	}
	st, err := e.ensureService(ctx, o.daemonArgs)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		e.say("No WSL 2 distro to put an agent in.")
		return nil
	}
	tok, err := e.agentToken(ctx, st)
	if err != nil {
		return err
	}
	failed := map[string]error{}
	var want []string
	for _, d := range targets {
		e.say("%s: installing the agent.", d.name)
		if err := e.installAgent(ctx, d, tok); err != nil {
			failed[d.name] = err
		}
		want = append(want, d.name)
	}
	rows := e.waitAgents(ctx, want, failed)
	e.say("")
	output.Setup(e.out, rows)
	for _, r := range rows {
		if r.Status != "connected" {
			return shownError{errors.New("not every agent is connected")}
		}
	}
	return nil
}

// workerCmd is the hidden command setup runs elevated.
const workerCmd = "setup-elevated"

// workerArgs is the elevated command line: the options, and the distros
// the user sees, to compare with what the elevated process sees.
func workerArgs(o setupOptions, seen []string) []string {
	args := []string{workerCmd, "--user-distros=" + strings.Join(seen, ",")}
	if o.distro != "" {
		args = append(args, "--distro="+o.distro)
	}
	if o.uninstall {
		args = append(args, "--uninstall")
	}
	if o.purge {
		args = append(args, "--purge")
	}
	return append(append(args, "--"), o.daemonArgs...)
}

// newSetupWorkerCmd is workerCmd: hidden, run by setup through UAC. It
// first lists the distros it sees and stops unless they are the user's.
func newSetupWorkerCmd(a *app) *cobra.Command {
	var o setupOptions
	var seen, pipe string
	cmd := &cobra.Command{
		Use:   workerCmd + " --user-distros=A,B [setup flags] -- [daemon flags]",
		Short: "The part of setup that runs elevated (setup starts it through UAC)",
		Long: `The part of 'wslfwd setup' that needs administrator rights: the service,
the agents' token and handing it to each distro, the wait and the table.
Setup starts it through UAC with the distros the user sees, and it stops
unless it sees the same ones. Not for use by hand.`,
		Example: "  " + workerCmd + " --user-distros=Ubuntu,Debian --",
		Hidden:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.daemonArgs = args
			if pipe != "" {
				if err := a.reportTo(pipe); err != nil {
					return err
				}
			}
			e, err := newSetupEnv(a)
			if err != nil {
				return err
			}
			names, err := e.listNames(cmd.Context())
			if err != nil {
				return err
			}
			if err := sameDistros(splitList(seen), names); err != nil {
				return err
			}
			return e.work(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&seen, "user-distros", "", "the distros the user sees, comma-separated")
	f.StringVar(&pipe, "pipe", "", "the named pipe to write to")
	f.StringVar(&o.distro, "distro", "", "")
	f.BoolVar(&o.uninstall, "uninstall", false, "")
	f.BoolVar(&o.purge, "purge", false, "")
	return cmd
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// runProgram runs exe to its end and returns its standard output; a
// failure's error quotes its standard error.
func runProgram(ctx context.Context, stdin []byte, exe string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if said := strings.TrimSpace(stderr.String()); said != "" {
			err = fmt.Errorf("%w: %s", err, said)
		}
		return stdout.Bytes(), err
	}
	return stdout.Bytes(), nil
}

// listAgents asks the daemon for its agents once, within --timeout.
func (a *app) listAgents(ctx context.Context) (*wslfwdv1.ListAgentsResponse, error) {
	var resp *wslfwdv1.ListAgentsResponse
	err := a.withConn(func(c *controlclient.Conn) error {
		ctx, cancel := a.deadline(ctx)
		defer cancel()
		r, err := c.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
		if err != nil {
			return c.Explain("list agents", err)
		}
		resp = r
		return nil
	})
	return resp, err
}
