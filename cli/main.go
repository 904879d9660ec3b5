// Command wslfwd queries and steers the wslfwd daemon: what is forwarded and
// why, static forwards, live events, connectivity probes across the
// Windows/WSL boundary, and a doctor for the usual setup mistakes.
//
// Exit codes: 0 success, 1 failure (daemon error, failed probe path, failed
// doctor check), 2 bad command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslfwd/wslfwd/cli/output"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/endpoint"
	"github.com/wslfwd/wslfwd/internal/safetext"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newApp(controlclient.SystemEnv(), os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run executes one command line and returns the exit code. Errors are
// printed to a.stderr; bad command lines get a pointer to --help.
func run(ctx context.Context, args []string, a *app) int {
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if errors.As(err, new(shownError)) {
		return exitFailure
	}
	fmt.Fprintln(a.stderr, "wslfwd:", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitFailure
}

// usageError marks a bad command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// shownError is a failure the command's output already told (exit 1): run
// prints nothing more, so that a verdict is not said twice.
type shownError struct{ err error }

func (e shownError) Error() string { return e.err.Error() }
func (e shownError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// args wraps a cobra argument validator so its complaints exit 2.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// app is the state every command shares: where it reads and writes, the
// machine it runs on, and the global flags.
type app struct {
	env            controlclient.Env
	stdout, stderr io.Writer
	now            func() time.Time
	loc            *time.Location
	// hostChecks are the doctor checks specific to the OS, given the
	// daemon's backend name.
	hostChecks func(ctx context.Context, backend string) []output.Check
	// dial connects for probe --from-lan.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// listRunning runs `wsl.exe -l --running -q` (Windows); nil elsewhere.
	listRunning func(ctx context.Context) (wsl.DistroList, error)

	host      string
	tokenFile string
	outFlag   string
	timeout   time.Duration
	format    output.Format
}

// newApp returns the CLI writing to stdout and stderr through
// safetext.NewWriter: what it prints quotes the daemon, and through it
// agents, so no control character reaches the terminal whichever path
// printed it.
func newApp(env controlclient.Env, stdout, stderr io.Writer) *app {
	return &app{
		env:         env,
		stdout:      safetext.NewWriter(stdout),
		stderr:      safetext.NewWriter(stderr),
		now:         time.Now,
		loc:         time.Local,
		hostChecks:  hostChecks,
		dial:        (&net.Dialer{}).DialContext,
		listRunning: listRunning,
	}
}

const rootLong = `wslfwd queries and steers wslfwd-hostd, the daemon that forwards services
started inside WSL to the Windows host and its LAN.

Finding the daemon (unless --host is given):
  Windows            127.0.0.1:17810
  WSL, nat mode      the IPv4 default gateway (the host), port 17810
  WSL, mirrored/wsl1 127.0.0.1:17810
  Linux (not WSL)    127.0.0.1:17810
The networking mode comes from 'wslinfo --networking-mode' (nat when missing).

Finding the token (unless --token-file is given), first readable file wins:
  Windows            %ProgramData%\wslfwd\token, then read.token
  WSL                ~/.config/wslfwd/token, then /etc/wslfwd/cli.token
                     (/etc/wslfwd/token is the agent's token: the daemon
                     refuses it for these commands)
  Linux (not WSL)    /var/lib/wslfwd/token, then read.token
'wslfwd-hostd token' (elevated, on Windows) prints the daemon's token. Read
commands also accept a read-only token; expose, unexpose and probe need the
daemon's (admin) token.

Exit codes: 0 success, 1 failure (including a failed probe path or doctor
check), 2 bad command line.`

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:     "wslfwd",
		Short:   "Query and steer the wslfwd daemon",
		Long:    rootLong,
		Version: version.Version,
		Example: `  wslfwd status
  wslfwd forwards --all
  wslfwd expose 53/udp --host-port 5353
  wslfwd probe
  wslfwd --host 172.28.240.1:17810 --token-file ~/wslfwd.token agents -o json`,
		Args:                       cobra.ArbitraryArgs,
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		SilenceErrors:              true,
		// Runnable so that an unknown command exits 2 instead of
		// printing help and exiting 0.
		RunE:              unknownCommand,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.checkGlobalFlags() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.addGlobalFlags(root)
	root.AddCommand(
		newStatusCmd(a),
		newAgentsCmd(a),
		newForwardsCmd(a),
		newWatchCmd(a),
		newExposeCmd(a),
		newUnexposeCmd(a),
		newProbeCmd(a),
		newDoctorCmd(a),
		newVersionCmd(a),
		newSetupCmd(a),
		newSetupWorkerCmd(a),
	)
	return root
}

// unknownCommand runs for the root command: help without arguments, exit 2
// with a suggestion for a command it does not know.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usagef("%s", msg)
}

func (a *app) addGlobalFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&a.host, "host", "", "daemon address host[:port] (see 'wslfwd --help')")
	pf.StringVar(&a.tokenFile, "token-file", "", "token file (default: see 'wslfwd --help')")
	pf.StringVarP(&a.outFlag, "output", "o", string(output.Table), "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "how long to wait for each answer")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]cobra.Completion{string(output.Table), string(output.JSON)}, cobra.ShellCompDirectiveNoFileComp))
}

// checkGlobalFlags checks the global flags before any command runs, so a
// bad one exits 2 whatever the command.
func (a *app) checkGlobalFlags() error {
	f, err := output.ParseFormat(a.outFlag)
	if err != nil {
		return usageError{err}
	}
	a.format = f
	if a.host != "" {
		if _, err := endpoint.ParseHost(a.host); err != nil {
			return usageError{err}
		}
	}
	if a.timeout <= 0 {
		return usagef("--timeout %s: must be positive", a.timeout)
	}
	return nil
}

// connect finds the daemon and a token and prepares a connection. Nothing
// is sent yet.
func (a *app) connect() (*controlclient.Conn, error) {
	place := controlclient.Detect(a.env)
	t, err := controlclient.Locate(a.env, &place, a.host)
	if err != nil {
		return nil, err
	}
	tok, from, err := controlclient.FindToken(a.tokenFile, place, a.env)
	if err != nil {
		return nil, err
	}
	return controlclient.Dial(t, tok, from)
}

// withConn connects to the daemon, runs f, and closes the connection.
func (a *app) withConn(f func(*controlclient.Conn) error) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

// deadline bounds one request by --timeout.
func (a *app) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}
