//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/lab/bench"
)

func init() { commands = append(commands, benchCmd, benchHelperCmd) }

// benchCmd is `lab bench`: issue 7's figures, measured in the lab.
func benchCmd() *cobra.Command {
	var (
		quick        bool
		jsonPath     string
		trials       int
		scanInterval time.Duration
		keepLogs     bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure time to forward, agent CPU and memory, scan cost and relay throughput",
		Long: `Builds the lab, starts the daemon (relay backend) in winhost, and measures with
an agent in wsl, first with eBPF detection (--trigger ebpf), then scan-only
(--trigger scan): time from listen() in wsl to the first echo from lan through
the forward and from close() to the port being refused, the agent's CPU idle
with 1,000 listeners and under churn, the time to forward 1,000 listeners at
once with the agent's and daemon's RSS; then the listener scan's cost with
10,000 established connections against none and relay TCP throughput against
the direct path. Prints a table with issue 7's targets; --json writes the
figures (keys documented in lab/bench). A full run takes several minutes;
--quick (for CI) under two.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
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
			out := cmd.OutOrStdout()
			defer func() {
				if err != nil || keepLogs {
					fmt.Fprintf(out, "logs kept in %s\n", dir)
					return
				}
				os.RemoveAll(dir)
			}()
			res, err := bench.Run(cmd.Context(), bench.Config{
				Quick: quick, Trials: trials, LabBinary: self, ScanInterval: scanInterval,
				Dir: dir, Command: "lab " + strings.Join(os.Args[1:], " "), Progress: out,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(out)
			if err := res.WriteTable(out); err != nil {
				return err
			}
			if jsonPath == "" {
				return nil
			}
			b, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return fmt.Errorf("encode the figures: %w", err)
			}
			if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
				return fmt.Errorf("write the figures: %w", err)
			}
			fmt.Fprintf(out, "\nfigures written to %s\n", jsonPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&quick, "quick", false, "CI size: 20 trials per mode, 3 s CPU windows, 128 MiB transfers")
	f.StringVar(&jsonPath, "json", "", "write the figures to this file as JSON")
	f.IntVar(&trials, "trials", 0, "forward/unforward trials per mode (default 200, 20 with --quick)")
	f.DurationVar(&scanInterval, "scan-interval", 250*time.Millisecond, "the agents' --scan-interval, the shortest period of scan-only detection")
	f.BoolVar(&keepLogs, "keep-logs", false, "keep the programs' logs even when the bench succeeds")
	return cmd
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
			replies := os.NewFile(3, "replies")
			if _, err := replies.Stat(); err != nil {
				return fmt.Errorf("bench-helper: no reply pipe on fd 3 (lab bench starts it): %w", err)
			}
			defer replies.Close()
			return bench.Serve(cmd.Context(), os.Stdin, replies)
		},
	}
}
