//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy/parsecmd"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
	"github.com/wslfwd/wslfwd/hostd-windows/winsvc"
	"github.com/wslfwd/wslfwd/internal/fileperm"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/winexec"
)

// platformCommands are the Windows service commands, `token` for the
// hand-off to agents, `selftest`, and `portproxy parse`.
func platformCommands() []*cobra.Command {
	return []*cobra.Command{
		newInstallCommand(),
		newUninstallCommand(),
		newServiceControlCommand("start", "Start the service", "started", winsvc.Start),
		newServiceControlCommand("stop", "Stop the service", "stopped", winsvc.Stop),
		newTokenCommand(),
		newServiceCommand(),
		newSelftestCommand(),
		parsecmd.New(),
	}
}

func errNotElevated(what string) error {
	return fmt.Errorf("%s needs an elevated prompt: open Terminal (Admin) or PowerShell with \"Run as administrator\" and run wslfwd-hostd %s again", what, what)
}

// prepareState creates the state directory and the tokens, owned by
// Administrators: the admin and agent tokens readable by Administrators
// and SYSTEM only, the read token by Users too, as the daemon's start-up
// check (fileperm) wants them. A directory that another account made
// before is refused, not taken over; one the installing account made
// outside of install is set aside, and a new one made, and warn says so
// (winsvc.CheckStateOwner). netsh's scripts are written there from now on.
func prepareState(p *settings, warn io.Writer) error {
	found, err := winsvc.CheckStateDir(p.stateDir)
	if err != nil {
		return err
	}
	if found == winsvc.StateUnsecured {
		if err := winsvc.CheckConfigNotIn(p.stateDir, p.configFile); err != nil {
			return err
		}
		to, err := winsvc.SetAside(p.stateDir, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprint(warn, winsvc.SetAsideNote(p.stateDir, to))
	}
	if err := os.MkdirAll(p.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	if err := winsvc.SecureDir(p.stateDir); err != nil {
		return err
	}
	if err := winsvc.SetAdminOwner(p.stateDir); err != nil {
		return err
	}
	winexec.SetScriptDir(p.stateDir)
	for _, f := range []struct {
		path   string
		secure func(path string) error
	}{
		{p.tokenFile, winsvc.SecureFile},
		{p.agentTokenFile, winsvc.SecureFile},
		{p.readTokenFile, winsvc.SecureReadableFile},
	} {
		if err := prepareToken(f.path, f.secure); err != nil {
			return err
		}
	}
	return nil
}

// prepareToken creates the token file at path if missing, gives it its
// DACL (secure) and makes Administrators its owner.
func prepareToken(path string, secure func(path string) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create token directory: %w", err)
	}
	if _, _, err := token.LoadOrCreate(path); err != nil {
		return fmt.Errorf("token %s: %w", path, err)
	}
	if err := secure(path); err != nil {
		return err
	}
	return winsvc.SetAdminOwner(path)
}

const installLong = `Install copies wslfwd-hostd.exe (and wslfwd.exe and the Linux agents of a
release, when they lie beside it) to %ProgramFiles%\wslfwd and registers the
copy as a Windows service that runs as LocalSystem, starts at boot and is
restarted after a crash: a program the service runs must not lie where a
standard user can replace it. Flags after --
are passed to the daemon as for "wslfwd-hostd run" (for example
-- --config C:\ProgramData\wslfwd\wslfwd.toml).
It creates the state directory (%ProgramData%\wslfwd) owned by Administrators
with the tokens, readable by Administrators and SYSTEM only except the read
token (read.token), which every user may read so that wslfwd status, forwards,
agents and watch work from a normal prompt; it refuses a state directory that
another account made first, and moves aside (to wslfwd.untrusted-<time>) one
that your own account made outside of install, whose tokens and ledger it
cannot trust. It adds an inbound firewall rule for the
daemon's port on the WSL adapter's address, so agents in WSL can reach it.
Running it again updates the service and the copied programs.`

func newInstallCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "install [-- daemon flags]",
		Short: "Install (or update) the Windows service; needs elevation",
		Long:  installLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !winsvc.Elevated() {
				return errNotElevated("install")
			}
			fs, f, err := parseRunFlags(args)
			if err != nil {
				return err
			}
			if err := checkServicePaths(fs); err != nil {
				return err
			}
			paths, err := resolve(fs, f)
			if err != nil {
				return err
			}
			if err := prepareState(paths, cmd.ErrOrStderr()); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := secureConfig(paths, out); err != nil {
				return err
			}
			if err := installService(out, args); err != nil {
				return err
			}
			fmt.Fprintf(out, "State and tokens: %s (Administrators and SYSTEM only; Users may read %s)\n", paths.stateDir, paths.readTokenFile)
			installDaemonRule(cmd.Context(), out, paths.port())
			fmt.Fprint(out, `
Next:
  1. wslfwd-hostd start
  2. Put the agent in every WSL distro, from a normal (not elevated) prompt:
       wslfwd setup
  3. To check the whole path on this machine: wslfwd-hostd selftest
`)
			return nil
		},
	}
}

// secureConfig secures a config file in the state directory
// (winsvc.SecureConfig), then judges the config as the service will, as
// SYSTEM (fileperm.CheckConfigFor): a config the service would refuse
// stops install, with the fix, rather than the service's start.
func secureConfig(p *settings, out io.Writer) error {
	if p.configFile == "" {
		return nil
	}
	secured, err := winsvc.SecureConfig(p.stateDir, p.configFile)
	if err != nil {
		return err
	}
	if err := fileperm.CheckConfigFor(p.configFile, winsvc.SIDSystem); err != nil {
		return fmt.Errorf("the service, which runs as SYSTEM, would refuse its config: %w", err)
	}
	if secured {
		fmt.Fprintf(out, "Config: %s (owned by Administrators; Administrators and SYSTEM only)\n", p.configFile)
	}
	return nil
}

// installService copies the programs to Program Files and registers the
// service there with the daemon flags args.
func installService(out io.Writer, args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program's path: %w", err)
	}
	pf, err := winsvc.ProgramFiles()
	if err != nil {
		return err
	}
	placed, err := winsvc.Place(winsvc.SystemFiles{}, exe, pf)
	if err != nil {
		return err
	}
	for _, c := range placed.Copied {
		fmt.Fprintln(out, "Copied", c)
	}
	if len(placed.Copied) > 0 {
		// A running program is renamed aside, not replaced in memory.
		fmt.Fprintln(out, "A service already running keeps the old program until it restarts: wslfwd-hostd stop, then wslfwd-hostd start.")
	}
	warnings, err := winsvc.Install(placed.Exe, append([]string{serviceVerb}, args...)...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(out, "WARNING:", w)
	}
	fmt.Fprintf(out, "Installed service %s: %s (LocalSystem, starts at boot, restarts after a crash).\n", winsvc.Name, placed.Exe)
	return nil
}

// installDaemonRule lets agents in WSL reach the daemon's port, on the
// WSL adapter's address only; a failure leaves a working service and is
// said, with what to do.
func installDaemonRule(ctx context.Context, out io.Writer, port uint16) {
	addr, name, err := winhost.HostWSLAddress()
	if err == nil {
		fw := firewall.New(firewall.SystemShell{}, quiet)
		err = fw.SetDaemonRule(ctx, addr, port)
	}
	if err != nil {
		fmt.Fprintf(out, "\nWARNING: no firewall rule for the daemon's port %d: %v\n", port, err)
		fmt.Fprintf(out, "Agents in WSL (NAT mode) cannot reach the daemon until there is one: start WSL and run wslfwd-hostd install again.\n")
		return
	}
	fmt.Fprintf(out, "Firewall: inbound TCP %d allowed on %s (%s) only.\n", port, addr, name)
}

func newUninstallCommand() *cobra.Command {
	var keepForwards bool
	var stateDir string
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the Windows service, its forwards and its firewall rules; needs elevation",
		Long: `Uninstall stops and removes the service and its Event Log source, deletes the
portproxy entries wslfwd created (those in its ledger; others are never touched)
unless --keep-forwards is given, and removes wslfwd's firewall rules. It finds
the state directory from the installed service's own flags (--config,
--state-dir), unless --state-dir is given. The state directory with the tokens
and the programs in %ProgramFiles%\wslfwd stay; delete them by hand to remove
them too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !winsvc.Elevated() {
				return errNotElevated("uninstall")
			}
			if !cmd.Flags().Changed("state-dir") {
				dir, err := installedStateDir()
				if err != nil {
					return err
				}
				stateDir = dir
			}
			if err := winsvc.Uninstall(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed service %s.\n", winsvc.Name)
			return cleanUp(cmd.Context(), cmd.OutOrStdout(), stateDir, keepForwards)
		},
	}
	cmd.Flags().BoolVar(&keepForwards, "keep-forwards", false, "leave the portproxy entries wslfwd made")
	cmd.Flags().StringVar(&stateDir, "state-dir", defaultStateDir(), "the daemon's state directory (default: the installed service's)")
	return cmd
}

// installedStateDir is the state directory the installed service uses,
// read from its command line in the service manager; the default when no
// service is installed.
func installedStateDir() (string, error) {
	line, ok, err := winsvc.InstalledCommandLine()
	if err != nil || !ok {
		return defaultStateDir(), err
	}
	argv, err := windows.DecomposeCommandLine(line)
	if err != nil {
		return "", fmt.Errorf("split the service's command line %q: %w", line, err)
	}
	return stateDirOf(argv)
}

// cleanUp removes what the service made: its portproxy entries (unless
// keepForwards) and its firewall rules.
//
// A state directory install did not make (not owned by Administrators or
// SYSTEM) may hold a planted ledger naming the user's own entries, so its
// ledger is not trusted and no entry is removed.
func cleanUp(ctx context.Context, out io.Writer, stateDir string, keepForwards bool) error {
	var errs []error
	trusted, done, err := protectScripts(stateDir)
	if err != nil {
		return err
	}
	defer done()
	if _, err := os.Stat(stateDir); err == nil && !keepForwards && !trusted {
		fmt.Fprintf(out, "No portproxy entry removed: %s is not owned by Administrators, as install makes it, so its ledger is not trusted.\n", stateDir)
		keepForwards = true
	}
	if !keepForwards {
		n, err := removeOwnedForwards(ctx, stateDir)
		if err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(out, "Removed %d portproxy entries wslfwd had made.\n", n)
		}
	}
	fw := firewall.New(firewall.SystemShell{}, quiet)
	if err := fw.Sync(ctx, nil); err != nil {
		errs = append(errs, fmt.Errorf("remove firewall rules: %w", err))
	}
	if err := fw.RemoveDaemonRule(ctx); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(out, "State directory kept: %s\n", stateDir)
	return errors.Join(errs...)
}

// protectScripts makes netsh's scripts go to a folder only Administrators
// and SYSTEM can use, for a command that runs netsh without the daemon:
// the state directory when it is one install made (trusted), else a new
// folder beside it, which done removes. Never %TEMP%: another process of
// the same user could rewrite a script there between its writing and an
// elevated netsh reading it (netsh's "add helper" loads a DLL).
func protectScripts(stateDir string) (trusted bool, done func(), err error) {
	if fi, err := os.Stat(stateDir); err == nil && fi.IsDir() {
		if found, err := winsvc.CheckStateDir(stateDir); err == nil && found == winsvc.StateTrusted {
			winexec.SetScriptDir(stateDir)
			return true, func() {}, nil
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(stateDir), "wslfwd-scripts-")
	if err != nil {
		return false, nil, fmt.Errorf("make a folder for netsh's scripts: %w", err)
	}
	if err := winsvc.SecureDir(dir); err != nil {
		os.RemoveAll(dir)
		return false, nil, err
	}
	if err := winsvc.SetAdminOwner(dir); err != nil {
		os.RemoveAll(dir)
		return false, nil, err
	}
	winexec.SetScriptDir(dir)
	return false, func() {
		winexec.SetScriptDir("")
		os.RemoveAll(dir)
	}, nil
}

// removeOwnedForwards deletes the portproxy entries in the ledger, and
// empties the ledger when they are gone.
func removeOwnedForwards(ctx context.Context, stateDir string) (int, error) {
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return 0, nil // no ledger: nothing the daemon made
	}
	lock, err := lockStateDir(stateDir) // a daemon still running would make them again
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	led, err := ledger.Open(stateDir, "portproxy")
	if err != nil {
		return 0, err
	}
	owned := led.Entries()
	if len(owned) == 0 {
		return 0, nil
	}
	b := portproxy.NewSystem(quiet, nil)
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
	var agent, read bool
	cmd := &cobra.Command{
		Use:   "token [--agent | --read] [-- daemon flags]",
		Short: "Print the admin token, or with --agent the agents' token, with --read the read token (created if missing); needs elevation",
		Long: `Token prints a token for handing over. The agent reads /etc/wslfwd/token by
default, so in an elevated prompt:
  wslfwd-hostd token --agent | wsl -d <distro> -u root sh -c "mkdir -p /etc/wslfwd && umask 077 && cat > /etc/wslfwd/token"
The read token (--read) is good for status, forwards, agents and watch only;
every user may read its file, so those commands work from a normal prompt.
Daemon flags after -- (such as --config) find the same files the service uses.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, f, err := parseRunFlags(args)
			if err != nil {
				return err
			}
			paths, err := resolve(fs, f)
			if err != nil {
				return err
			}
			if err := prepareState(paths, cmd.ErrOrStderr()); err != nil {
				if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, os.ErrPermission) {
					return errNotElevated("token")
				}
				return err
			}
			path := paths.tokenFile
			switch {
			case agent:
				path = paths.agentTokenFile
			case read:
				path = paths.readTokenFile
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
	cmd.Flags().BoolVar(&read, "read", false, "print the read token, good for status, forwards, agents and watch only")
	cmd.MarkFlagsMutuallyExclusive("agent", "read")
	return cmd
}

// newServiceCommand is what the service manager runs: the daemon, as
// `run` with the same flags, logging to a size-rotated log file (the
// state directory's wslfwd-hostd.log unless --log-file or log_file says
// otherwise) and the Event Log. A failure to start, a broken config file
// included, is reported to the service manager, the Event Log and the log
// file in words.
func newServiceCommand() *cobra.Command {
	return &cobra.Command{
		Use:                serviceVerb + " [daemon flags]",
		Short:              "Run as the Windows service (started by the service manager)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			st, err := prepareService(args)
			if err != nil {
				// Run the service anyway, only to fail it: exiting before
				// the service manager hears from us leaves error 1053
				// and nothing said anywhere.
				err = fmt.Errorf("configuration: %w", err)
				logPath := serviceLogPath(args)
				return winsvc.Run(func(context.Context, func()) error { return failed(logPath, err) })
			}
			logPath := st.logPath
			return winsvc.Run(func(ctx context.Context, ready func()) error {
				stderr, err := winsvc.OpenStderr(st.stateDir)
				if err != nil {
					return failed(logPath, err)
				}
				defer stderr.Close()
				// A service has no stderr: what bypasses the logger (a
				// crash's trace) goes to a file.
				os.Stderr = stderr
				if err := windows.SetStdHandle(windows.STD_ERROR_HANDLE, windows.Handle(stderr.Fd())); err != nil {
					return failed(logPath, fmt.Errorf("redirect stderr to a file: %w", err))
				}
				setRuntime()
				if err := runDaemonArgs(ctx, st.args, ready); err != nil {
					return failed(logPath, err)
				}
				return nil
			})
		},
	}
}

// serviceStart is what the service runs with.
type serviceStart struct {
	args              []string // the daemon's flags
	stateDir, logPath string
}

// prepareService resolves the service's flags, makes and protects the
// state directory, and adds --log-file when neither flag nor config names
// one.
func prepareService(args []string) (serviceStart, error) {
	fs, f, err := parseRunFlags(args)
	if err != nil {
		return serviceStart{}, err
	}
	paths, err := resolve(fs, f)
	if err != nil {
		return serviceStart{}, err
	}
	if err := os.MkdirAll(paths.stateDir, 0o700); err != nil {
		return serviceStart{}, fmt.Errorf("create state directory: %w", err)
	}
	if err := winsvc.SecureDir(paths.stateDir); err != nil {
		return serviceStart{}, err
	}
	st := serviceStart{args: args, stateDir: paths.stateDir, logPath: paths.cfg.LogFile}
	if st.logPath == "" {
		st.logPath = filepath.Join(paths.stateDir, logfile.FileName)
		st.args = append(slices.Clip(args), "--log-file", st.logPath)
	}
	return st, nil
}

// failed writes err to the log file too (the Event Log gets it from
// winsvc) and returns it.
func failed(logPath string, err error) error {
	if lerr := logStartFailure(logPath, err); lerr != nil {
		return errors.Join(err, lerr)
	}
	return err
}
