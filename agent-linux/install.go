package main

import "github.com/spf13/cobra"

// installOptions are the flags of install and uninstall.
type installOptions struct {
	root       string
	tokenStdin bool
	tokenFile  string
	distro     string
	host       string
}

func installCommand() *cobra.Command {
	o := &installOptions{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install this agent in the distro, make it start at boot and start it now (needs root)",
		Long: `Copies this binary to /usr/local/bin/wslfwd-agent, writes the agent token to
/etc/wslfwd/token (mode 0600), and makes the agent start at boot and now: with
the systemd unit when systemd runs the distro, otherwise from the [boot] command
of /etc/wsl.conf, put in front of any command already there. Running it again
changes only what is not as it should be, one line per change. wslfwd setup
runs it in each distro.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInstall(cmd, o) },
	}
	cmd.Flags().BoolVar(&o.tokenStdin, "token-stdin", false, "read the agent token from standard input")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "", "read the agent token from this file (default: keep the installed one)")
	cmd.Flags().StringVar(&o.distro, "distro", "", "distro name (default: $WSL_DISTRO_NAME)")
	cmd.Flags().StringVar(&o.host, "host", "", "the agent's --host: daemon address host[:port] (default: found by networking mode)")
	cmd.MarkFlagsMutuallyExclusive("token-stdin", "token-file")
	rootFlag(cmd, o)
	return cmd
}

func uninstallCommand() *cobra.Command {
	o := &installOptions{}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop the agent and remove what install made, and nothing else (needs root)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runUninstall(cmd, o) },
	}
	rootFlag(cmd, o)
	return cmd
}

func rootFlag(cmd *cobra.Command, o *installOptions) {
	cmd.Flags().StringVar(&o.root, "root", "/",
		"install into this directory tree instead (like dpkg --root): files only, systemctl and the agent are not run")
}
