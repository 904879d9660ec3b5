//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/windows"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy/parsecmd"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
	"github.com/wslfwd/wslfwd/hostd-windows/winsvc"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/token"
)

// platformCommands are the Windows service commands, `token` for the
// hand-off to agents, and `portproxy parse`.
func platformCommands() []*cobra.Command {
	return []*cobra.Command{
		newInstallCommand(),
		newUninstallCommand(),
		newServiceControlCommand("start", "Start the service", "started", winsvc.Start),
		newServiceControlCommand("stop", "Stop the service", "stopped", winsvc.Stop),
		newTokenCommand(),
		newServiceCommand(),
		parsecmd.New(),
	}
}

func errNotElevated(what string) error {
	return fmt.Errorf("%s needs an elevated prompt: open Terminal (Admin) or PowerShell with \"Run as administrator\" and run wslfwd-hostd %s again", what, what)
}

// servicePaths resolves the state directory and token files as `run` does
// for the same flags (config file, then explicit flags, then defaults).
type servicePaths struct {
	stateDir, tokenFile, agentTokenFile string
	logFile                             string // empty: the service's default
	port                                uint16 // the daemon's gRPC port
}

func resolvePaths(fs *pflag.FlagSet, f *runFlags) (servicePaths, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return servicePaths{}, err
		}
	}
	if fs.Changed("state-dir") {
		cfg.StateDir = f.stateDir
	}
	if fs.Changed("token-file") {
		cfg.TokenFile = f.tokenFile
	}
	if fs.Changed("agent-token-file") {
		cfg.AgentTokenFile = f.agentTokenFile
	}
	if fs.Changed("listen") {
		cfg.Listen = f.listen
	}
	if fs.Changed("log-file") {
		cfg.LogFile = f.logFile
	}
	p := servicePaths{stateDir: cfg.StateDir, logFile: cfg.LogFile, port: endpoint.DefaultPort}
	if p.stateDir == "" {
		p.stateDir = defaultStateDir()
	}
	p.tokenFile = cfg.TokenPath(p.stateDir)
	p.agentTokenFile = cfg.AgentTokenFile
	if p.agentTokenFile == "" {
		p.agentTokenFile = filepath.Join(filepath.Dir(p.tokenFile), "agent.token")
	}
	if len(cfg.Listen) > 0 {
		ap, err := netip.ParseAddrPort(cfg.Listen[0])
		if err != nil {
			return servicePaths{}, fmt.Errorf("listen address %q: %w", cfg.Listen[0], err)
		}
		p.port = ap.Port()
	}
	return p, nil
}

// parseRunFlags parses the flags the service passes to the daemon.
func parseRunFlags(args []string) (*pflag.FlagSet, *runFlags, error) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, fmt.Errorf("daemon flags: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("daemon flags: unexpected arguments %q", fs.Args())
	}
	return fs, f, nil
}

// prepareState creates the state directory and the admin and agent
// tokens, owned by Administrators and readable by Administrators and
// SYSTEM only, as the daemon's start-up check (fileperm) wants them.
func prepareState(p servicePaths) error {
	if err := os.MkdirAll(p.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	if err := winsvc.SecureDir(p.stateDir); err != nil {
		return err
	}
	if err := winsvc.SetAdminOwner(p.stateDir); err != nil {
		return err
	}
	for _, path := range []string{p.tokenFile, p.agentTokenFile} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create token directory: %w", err)
		}
		if _, _, err := token.LoadOrCreate(path); err != nil {
			return fmt.Errorf("token %s: %w", path, err)
		}
		if err := winsvc.SecureFile(path); err != nil {
			return err
		}
		if err := winsvc.SetAdminOwner(path); err != nil {
			return err
		}
	}
	return nil
}

func newInstallCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "install [-- daemon flags]",
		Short: "Install (or update) the Windows service; needs elevation",
		Long: `Install registers wslfwd-hostd as a Windows service that runs as LocalSystem,
starts at boot and is restarted after a crash. Flags after -- are passed to the
daemon as for "wslfwd-hostd run" (for example -- --config C:\ProgramData\wslfwd\wslfwd.toml).
It creates the state directory (%ProgramData%\wslfwd) and the tokens, readable by
Administrators and SYSTEM only, and an inbound firewall rule for the daemon's
port on the WSL adapter's address, so agents in WSL can reach it.
Running it again updates the service.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !winsvc.Elevated() {
				return errNotElevated("install")
			}
			fs, f, err := parseRunFlags(args)
			if err != nil {
				return err
			}
			paths, err := resolvePaths(fs, f)
			if err != nil {
				return err
			}
			if err := prepareState(paths); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this program's path: %w", err)
			}
			warnings, err := winsvc.Install(exe, append([]string{"service"}, args...)...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, w := range warnings {
				fmt.Fprintln(out, "WARNING:", w)
			}
			fmt.Fprintf(out, "Installed service %s (LocalSystem, starts at boot, restarts after a crash).\n", winsvc.Name)
			fmt.Fprintf(out, "State and tokens: %s (Administrators and SYSTEM only)\n", paths.stateDir)

			addr, name, err := winhost.HostWSLAddress()
			if err == nil {
				fw := firewall.New(firewall.SystemShell{}, nil)
				err = fw.SetDaemonRule(cmd.Context(), addr, paths.port)
			}
			if err != nil {
				fmt.Fprintf(out, "\nWARNING: no firewall rule for the daemon's port %d: %v\n", paths.port, err)
				fmt.Fprintf(out, "Agents in WSL (NAT mode) cannot reach the daemon until there is one: start WSL and run wslfwd-hostd install again.\n")
			} else {
				fmt.Fprintf(out, "Firewall: inbound TCP %d allowed on %s (%s) only.\n", paths.port, addr, name)
			}
			fmt.Fprintf(out, `
Next:
  1. wslfwd-hostd start
  2. Give each distro's agent its token (in this elevated prompt, per distro):
       wslfwd-hostd token --agent | wsl -d <distro> -u root sh -c "mkdir -p /etc/wslfwd && umask 077 && cat > /etc/wslfwd/token"
  3. Start the agent in the distro, then list forwards with: wslfwd forwards
`)
			return nil
		},
	}
}

func newUninstallCommand() *cobra.Command {
	var keepForwards bool
	var stateDir string
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the Windows service, its forwards and its firewall rules; needs elevation",
		Long: `Uninstall stops and removes the service and its Event Log source, deletes the
portproxy entries wslfwd created (those in its ledger; others are never touched)
unless --keep-forwards is given, and removes wslfwd's firewall rules. The state
directory with the tokens stays; delete it by hand to remove them too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !winsvc.Elevated() {
				return errNotElevated("uninstall")
			}
			if err := winsvc.Uninstall(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Removed service %s.\n", winsvc.Name)
			var errs []error
			if !keepForwards {
				n, err := removeOwnedForwards(cmd.Context(), stateDir)
				if err != nil {
					errs = append(errs, err)
				} else {
					fmt.Fprintf(out, "Removed %d portproxy entries wslfwd had made.\n", n)
				}
			}
			fw := firewall.New(firewall.SystemShell{}, nil)
			if err := fw.Sync(cmd.Context(), nil); err != nil {
				errs = append(errs, fmt.Errorf("remove firewall rules: %w", err))
			}
			if err := fw.RemoveDaemonRule(cmd.Context()); err != nil {
				errs = append(errs, err)
			}
			fmt.Fprintf(out, "State directory kept: %s\n", stateDir)
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&keepForwards, "keep-forwards", false, "leave the portproxy entries wslfwd made")
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir(), "the daemon's state directory")
	return cmd
}

// removeOwnedForwards deletes the portproxy entries in the ledger, and
// empties the ledger when they are gone.
func removeOwnedForwards(ctx context.Context, stateDir string) (int, error) {
	led, err := ledger.Open(stateDir, "portproxy")
	if err != nil {
		return 0, err
	}
	owned := led.Entries()
	if len(owned) == 0 {
		return 0, nil
	}
	b := portproxy.NewSystem(slog.New(slog.DiscardHandler))
	if err := b.Apply(ctx, backend.Batch{Remove: owned}); err != nil {
		return 0, fmt.Errorf("remove wslfwd's portproxy entries: %w", err)
	}
	if err := led.Replace(nil); err != nil {
		return 0, err
	}
	return len(owned), nil
}

func newServiceControlCommand(use, short, done string, do func() error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short + "; needs elevation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !winsvc.Elevated() {
				return errNotElevated(use)
			}
			if err := do(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Service %s %s.\n", winsvc.Name, done)
			return nil
		},
	}
}

func newTokenCommand() *cobra.Command {
	var agent bool
	cmd := &cobra.Command{
		Use:   "token [--agent] [-- daemon flags]",
		Short: "Print the admin token, or with --agent the agents' token (created if missing); needs elevation",
		Long: `Token prints a token for handing over. The agent reads /etc/wslfwd/token by
default, so in an elevated prompt:
  wslfwd-hostd token --agent | wsl -d <distro> -u root sh -c "mkdir -p /etc/wslfwd && umask 077 && cat > /etc/wslfwd/token"
Daemon flags after -- (such as --config) find the same files the service uses.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, f, err := parseRunFlags(args)
			if err != nil {
				return err
			}
			paths, err := resolvePaths(fs, f)
			if err != nil {
				return err
			}
			if err := prepareState(paths); err != nil {
				if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, os.ErrPermission) {
					return errNotElevated("token")
				}
				return err
			}
			path := paths.tokenFile
			if agent {
				path = paths.agentTokenFile
			}
			tok, err := token.Load(path)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&agent, "agent", false, "print the token agents present (the one for /etc/wslfwd/token)")
	return cmd
}

// newServiceCommand is what the service manager runs: the daemon, as
// `run` with the same flags, logging to a size-rotated log file (the
// state directory's wslfwd-hostd.log unless --log-file or log_file says
// otherwise) and the Event Log.
func newServiceCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "service [daemon flags]",
		Short:              "Run as the Windows service (started by the service manager)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			fs, f, err := parseRunFlags(args)
			if err != nil {
				return err
			}
			paths, err := resolvePaths(fs, f)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(paths.stateDir, 0o700); err != nil {
				return fmt.Errorf("create state directory: %w", err)
			}
			if err := winsvc.SecureDir(paths.stateDir); err != nil {
				return err
			}
			if paths.logFile == "" {
				args = append(slices.Clip(args), "--log-file", filepath.Join(paths.stateDir, logfile.FileName))
			}
			return winsvc.Run(func(ctx context.Context, ready func()) error {
				stderr, err := winsvc.OpenStderr(paths.stateDir)
				if err != nil {
					return err
				}
				defer stderr.Close()
				// A service has no stderr: what bypasses the logger (a
				// crash's trace) goes to a file.
				os.Stderr = stderr
				if err := windows.SetStdHandle(windows.STD_ERROR_HANDLE, windows.Handle(stderr.Fd())); err != nil {
					return fmt.Errorf("redirect stderr to a file: %w", err)
				}
				return runDaemonArgs(ctx, args, ready)
			})
		},
	}
}
