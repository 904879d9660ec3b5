package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/wslfwd/wslfwd/cli/output"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/controlclient"
)

// probeSteps bounds how many waits of --step-timeout one probe may take on
// the daemon's side (echo listener, its forward, three paths, cleanup).
const probeSteps = 6

// defaultStepTimeout is the daemon's own default, used to size the deadline
// when --step-timeout is not given.
const defaultStepTimeout = 5 * time.Second

const probeLong = `Ask the daemon to test every path across the Windows/WSL boundary: the
agent opens a temporary echo listener, the daemon waits for its forward,
then tests each path and cleans up, also on failure:

  wsl-to-host  from the distro to the daemon's address
  host-to-wsl  from the host to the distro's address
  lan-to-wsl   from the host to its own LAN address, through the forward

Each path is printed with PASS or FAIL, its latency and, on failure, the
reason. Exits 1 when any path fails. Needs the admin token.

lan-to-wsl runs on the host: Windows Firewall does not filter a host's
connections to its own addresses, so it cannot tell whether LAN clients get
in. For that, run on another machine of the LAN (no daemon or token needed):
  wslfwd probe --from-lan <host-lan-address> --port <forwarded port>
which connects from there and says whether, and how, it failed.`

func newProbeCmd(a *app) *cobra.Command {
	var (
		distro  string
		portArg string
		step    time.Duration
		fromLAN string
	)
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Test connectivity across the Windows/WSL boundary",
		Long:  probeLong,
		Example: `  wslfwd probe
  wslfwd probe --distro Ubuntu --port 40123
  wslfwd probe -o json
  wslfwd probe --from-lan 192.168.1.20 --port 8080   # on another PC`,
		Args:              args(cobra.NoArgs),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if step < 0 {
				return usagef("--step-timeout %s: must not be negative", step)
			}
			port, err := portFlag(cmd, "port", portArg)
			if err != nil {
				return err
			}
			if fromLAN != "" {
				if distro != "" {
					return usagef("--from-lan tests from this machine: --distro is for the daemon's probe")
				}
				return a.probeFromLAN(cmd.Context(), fromLAN, port, cmp.Or(step, defaultStepTimeout))
			}
			req := &wslfwdv1.ProbeRequest{Distro: distro, Port: uint32(port)}
			wait := defaultStepTimeout
			if step > 0 {
				req.Timeout = durationpb.New(step)
				wait = step
			}
			return a.withConn(func(c *controlclient.Conn) error {
				// The daemon may wait up to one step timeout per step.
				ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout+probeSteps*wait)
				defer cancel()
				resp, err := c.Probe(ctx, req)
				if err != nil {
					return c.Explain("probe", err)
				}
				return a.printProbe(resp, true)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&distro, "distro", "", "distro to probe (default: the only agent)")
	f.StringVar(&portArg, "port", "", "port for the echo listener (default: any free); with --from-lan the forwarded host port to connect to")
	f.DurationVar(&step, "step-timeout", 0, "how long the daemon waits per step (default 5s); with --from-lan how long to wait for the connection")
	f.StringVar(&fromLAN, "from-lan", "", "run on another machine: connect from it to this host address (the Windows host's LAN address) and --port")
	_ = cmd.RegisterFlagCompletionFunc("distro", a.completeDistros)
	return cmd
}

// printProbe writes the probe's result, with the note on what lan-to-wsl
// did not test when note is set (text output), and returns its verdict.
func (a *app) printProbe(resp *wslfwdv1.ProbeResponse, note bool) error {
	if a.format == output.JSON {
		if err := output.WriteJSON(a.stdout, resp); err != nil {
			return err
		}
		return probeVerdict(resp)
	}
	output.Probe(a.stdout, resp)
	if note {
		lanNote(a.stdout, resp)
	}
	err := probeVerdict(resp)
	if err != nil && (len(output.FailedPaths(resp)) > 0 || len(resp.GetPaths()) == 0) {
		// The table's last line already said which paths failed.
		return shownError{err}
	}
	return err
}

// probeVerdict fails when any path failed or none was tested, or when the
// daemon's overall verdict disagrees.
func probeVerdict(r *wslfwdv1.ProbeResponse) error {
	if failed := output.FailedPaths(r); len(failed) > 0 {
		return fmt.Errorf("probe: %d of %d paths failed: %s", len(failed), len(r.GetPaths()), strings.Join(failed, ", "))
	}
	if len(r.GetPaths()) == 0 {
		return fmt.Errorf("probe: the daemon tested no paths")
	}
	if !r.GetOk() {
		return fmt.Errorf("probe: the daemon reports failure although every path passed")
	}
	return nil
}

// completeDistros offers the distros of the agents the daemon knows. It
// stays silent when the daemon cannot be asked: completion must not print
// errors into the shell.
func (a *app) completeDistros(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	_ = a.withConn(func(c *controlclient.Conn) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
		defer cancel()
		resp, err := c.ListAgents(ctx, &wslfwdv1.ListAgentsRequest{})
		if err != nil {
			return err
		}
		for _, ag := range resp.GetAgents() {
			out = append(out, ag.GetDistro())
		}
		return nil
	})
	return out, cobra.ShellCompDirectiveNoFileComp
}
