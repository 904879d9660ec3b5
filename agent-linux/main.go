// Command wslfwd-agent reports a WSL distro's network state and listeners to the wslfwd daemon.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/agent-linux/localstatus"
	"github.com/wslfwd/wslfwd/internal/version"
)

// options are the flags of run and inspect.
type options struct {
	host         string
	tokenFile    string
	distro       string
	mode         string
	scanInterval time.Duration
	trigger      string
	logLevel     string
	json         bool
	statusSocket string
	logFile      string
	output       string
}

func main() {
	root := &cobra.Command{
		Use:           "wslfwd-agent",
		Short:         "wslfwd-agent reports a WSL distro's network state and listeners to the wslfwd daemon",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "wslfwd-agent", version.Version)
		},
	}, runCommand(), inspectCommand(), statusCommand(), installCommand(), uninstallCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wslfwd-agent:", err)
		os.Exit(1)
	}
}

func detectionFlags(cmd *cobra.Command, o *options) {
	cmd.Flags().StringVar(&o.distro, "distro", "", "distro name (default: $WSL_DISTRO_NAME)")
	cmd.Flags().StringVar(&o.mode, "networking-mode", "",
		"networking mode: nat, mirrored, bridged, virtioproxy, none, wsl1 or unknown (default: detected with wslinfo)")
}

func runCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Report this distro to the daemon until stopped (needs root)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, o) },
	}
	cmd.Flags().StringVar(&o.host, "host", "",
		"daemon address host[:port] (default: by networking mode; NAT: the IPv4 default gateway, mirrored and WSL1: 127.0.0.1)")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "/etc/wslfwd/token", "file holding the daemon's bearer token")
	cmd.Flags().StringVar(&o.trigger, "trigger", "auto",
		"what reports listener changes: ebpf (instant, needs root and Linux >= 5.9; a protocol whose part does not load is scanned for), scan (periodic scans, see --scan-interval), or auto (ebpf when it loads, else scan)")
	cmd.Flags().DurationVar(&o.scanInterval, "scan-interval", 250*time.Millisecond,
		"without the eBPF trigger, the shortest time between listener scans; with many listeners scans come less often, so they take at most 0.1% of a core (and at least every 4s). With it, a safety scan runs every 5m")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&o.statusSocket, "status-socket", localstatus.DefaultSocket,
		"Unix socket where `wslfwd-agent status` reads this agent's state (in a directory only root may enter); empty: serve none")
	cmd.Flags().StringVar(&o.logFile, "log-file", "",
		"append the log to this file (made 0600; a symlink, or a file of another user, is refused) instead of standard error")
	detectionFlags(cmd, o)
	return cmd
}

func statusCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's listeners and what the daemon made of each (needs root)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return status(cmd, o) },
	}
	cmd.Flags().StringVar(&o.statusSocket, "status-socket", localstatus.DefaultSocket, "the running agent's --status-socket")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func inspectCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Print once what run would send: the hello and the snapshot",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return inspect(cmd, o) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, `print {"hello": ..., "snapshot": ...} as protojson with proto field names`)
	detectionFlags(cmd, o)
	return cmd
}
