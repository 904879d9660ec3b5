//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/bench"
)

func init() { commands = append(commands, benchCmd, benchHelperCmd, benchPollerCmd) }

// benchFlags are the flags of `lab bench`.
type benchFlags struct {
	quick        bool
	jsonPath     string
	trials       int
	scanInterval time.Duration
	keepLogs     bool
}

// benchCmd is `lab bench`: issues 7's and 16's figures, measured in the lab.
func benchCmd() *cobra.Command {
	var fl benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure time to forward, agent and daemon CPU, memory, scan cost and relay throughput, beside socat and a 1 s poller",
		Long: `Builds the lab, starts the daemon (relay backend) in winhost, and measures with
an agent in wsl, first with eBPF detection (--trigger ebpf), then scan-only
(--trigger scan): time from listen() in wsl to the first echo from lan through
the forward (also with 1,000 listeners open) and from close() to the port being
refused, the agent's and daemon's CPU idle with 1,000 listeners and under
churn, the time to forward 1,000 listeners at once with the agent's and
daemon's RSS; then the listener scan's cost with 10,000 established
connections against none. Peers measured in the same run: a plain socat relay
(time to forward, throughput) and a process that dumps the TCP listeners every
second, as WSL's own relay does (time to see a listener, CPU). Relay TCP
throughput is compared with the direct path and with socat. Every figure is
measured three times and printed as median (range). --json writes the figures
(keys documented in lab/bench). Needs root and socat. A full run takes about
ten minutes; --quick (for CI) under two.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd.Context(), cmd.OutOrStdout(), fl) },
	}
	f := cmd.Flags()
	f.BoolVar(&fl.quick, "quick", false, "CI size: 21 trials per mode, 1-2 s CPU windows, 128 MiB transfers")
	f.StringVar(&fl.jsonPath, "json", "", "write the figures to this file as JSON")
	f.IntVar(&fl.trials, "trials", 0, "forward/unforward trials per mode over the three repeats (default 210, 21 with --quick)")
	f.DurationVar(&fl.scanInterval, "scan-interval", 250*time.Millisecond, "the agents' --scan-interval, the shortest period of scan-only detection")
	f.BoolVar(&fl.keepLogs, "keep-logs", false, "keep the programs' logs even when the bench succeeds")
	return cmd
}

// runBench runs the bench in a fresh directory, prints the table and
// writes the JSON file.
func runBench(ctx context.Context, out io.Writer, fl benchFlags) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("the bench needs root: it creates network namespaces (try: sudo go run ./lab bench --quick)")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the lab binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "wslfwd-bench-")
	if err != nil {
		return fmt.Errorf("bench directory: %w", err)
	}
	defer func() {
		if err != nil || fl.keepLogs {
			fmt.Fprintf(out, "logs kept in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	res, err := bench.Run(ctx, bench.Config{
		Quick: fl.quick, Trials: fl.trials, LabBinary: self, ScanInterval: fl.scanInterval,
		Dir: dir, Command: "lab " + strings.Join(os.Args[1:], " "), Progress: out,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := res.WriteTable(out); err != nil {
		return err
	}
	if fl.jsonPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the figures: %w", err)
	}
	if err := os.WriteFile(fl.jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the figures: %w", err)
	}
	fmt.Fprintf(out, "\nfigures written to %s\n", fl.jsonPath)
	return nil
}

// benchHelperCmd runs inside wsl for the bench: it opens and closes
// listeners as the bench's driver tells it on stdin, answering on fd 3.
func benchHelperCmd() *cobra.Command {
	return &cobra.Command{
		Use:    bench.HelperCommand,
		Short:  "The bench's listener helper (started by lab bench inside wsl)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			replies, err := fd3("bench-helper")
			if err != nil {
				return err
			}
			defer replies.Close()
			return bench.Serve(cmd.Context(), os.Stdin, replies)
		},
	}
}

// benchPollerCmd runs inside wsl for the bench: the 1 s poller peer,
// reporting on fd 3 the listeners it sees appear.
func benchPollerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    bench.PollerCommand + " INTERVAL",
		Short:  "The bench's poller peer (started by lab bench inside wsl)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			interval, err := time.ParseDuration(args[0])
			if err != nil || interval <= 0 {
				return fmt.Errorf("bench-poller: interval %q: want a positive duration", args[0])
			}
			reports, err := fd3("bench-poller")
			if err != nil {
				return err
			}
			defer reports.Close()
			return bench.Poll(cmd.Context(), interval, reports)
		},
	}
}

// fd3 returns the pipe lab bench hands its helpers as fd 3.
func fd3(name string) (*os.File, error) {
	f := os.NewFile(3, "fd3")
	if _, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: no pipe on fd 3 (lab bench starts it): %w", name, err)
	}
	return f, nil
}
