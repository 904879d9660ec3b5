package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
	"github.com/wslfwd/wslfwd/hostd-windows/winsvc"
	"github.com/wslfwd/wslfwd/internal/controlclient"
	"github.com/wslfwd/wslfwd/internal/token"
	"github.com/wslfwd/wslfwd/internal/version"
	"github.com/wslfwd/wslfwd/internal/winexec"
	"github.com/wslfwd/wslfwd/internal/wintext"
	"github.com/wslfwd/wslfwd/internal/wsl"
)

const selftestLong = `Selftest checks the whole path on this machine and prints a report to paste
into a bug report. Run it elevated, with a distro running its agent:
  1. the service is installed (installed now, unless --no-install) and runs
  2. the daemon answers, and reports no problems
  3. a running distro has a connected agent (--distro picks one)
  4. a test listener in it (python3 -m http.server, run as you with wsl.exe,
     for at most two minutes) is forwarded
  5. the forward answers at the host's LAN address (from this host: the
     firewall does not filter that; the report says how to test from another PC)
  6. its firewall rule exists (firewall = true)
  7. the daemon's probe passes
  8. with --uninstall, everything is removed again
Flags after -- are daemon flags for the install, as for install.
Exit codes: 0 every check passed, 1 a check failed, 3 nothing failed but no
running distro with a connected agent was found to test with.`

func newSelftestCommand() *cobra.Command {
	var o selftestOptions
	var noInstall bool
	cmd := &cobra.Command{
		Use:   "selftest [flags] [-- daemon flags]",
		Short: "Check install, forwarding and firewall on this machine and print a report; needs elevation",
		Long:  selftestLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := newWindowsHost(args, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if o.port == 0 {
				o.port = uint16(40000 + rand.IntN(9000)) // below Windows' dynamic ports
			}
			o.install = !noInstall
			r := runSelftest(cmd.Context(), h, o)
			r.write(cmd.OutOrStdout())
			if code := r.exitCode(); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.distro, "distro", "", "distro to test with (default: the first running one with a connected agent)")
	f.Uint16Var(&o.port, "port", 0, "port of the test listener (default: a random one in 40000-48999)")
	f.BoolVar(&noInstall, "no-install", false, "do not install the service when it is not")
	f.BoolVar(&o.uninstall, "uninstall", false, "uninstall the service at the end")
	f.DurationVar(&o.wait, "wait", 20*time.Second, "how long to wait for the forward and its rule")
	o.poll = 250 * time.Millisecond
	return cmd
}

// windowsHost is selftestHost on Windows.
type windowsHost struct {
	args    []string // daemon flags to install with
	paths   *settings
	cmdline string    // the installed service's, "" when none
	log     io.Writer // install's and uninstall's own output
}

// newWindowsHost reads the installed service's settings, or, with none
// installed, those the flags args give.
func newWindowsHost(args []string, log io.Writer) (*windowsHost, error) {
	h := &windowsHost{args: args, log: log}
	line, ok, err := winsvc.InstalledCommandLine()
	if err != nil {
		return nil, err
	}
	if ok {
		argv, err := windows.DecomposeCommandLine(line)
		if err != nil {
			return nil, fmt.Errorf("split the service's command line %q: %w", line, err)
		}
		h.cmdline = line
		h.paths, err = installedSettings(argv)
		return h, err
	}
	fs, f, err := parseRunFlags(args)
	if err != nil {
		return nil, err
	}
	h.paths, err = resolve(fs, f)
	return h, err
}

func (h *windowsHost) Facts(ctx context.Context) [][2]string {
	v := windows.RtlGetVersion()
	fw := "off (firewall = false)"
	if h.paths.cfg.Firewall {
		fw = "on, profiles " + strings.Join(h.paths.cfg.FirewallProfiles, ",")
	}
	return [][2]string{
		{"time", time.Now().UTC().Format(time.RFC3339)},
		{"wslfwd-hostd", fmt.Sprintf("%s (%s/%s)", version.Version, runtime.GOOS, runtime.GOARCH)},
		{"windows", fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber)},
		{"wsl", wslVersion(ctx)},
		{"service", orNothing(h.cmdline)},
		{"state dir", h.paths.stateDir},
		{"firewall", fw},
	}
}

// wslVersion is the first line `wsl.exe --version` prints (localised:
// shown, not read), or why there is none.
func wslVersion(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, winexec.SystemPath(`System32\wsl.exe`), "--version")
	cmd.Env = append(os.Environ(), "WSL_UTF8=1")
	out, err := cmd.Output()
	line, _, _ := strings.Cut(strings.TrimSpace(wintext.Decode(out)), "\n")
	if err != nil && line == "" {
		return err.Error()
	}
	return strings.TrimSpace(line)
}

func (h *windowsHost) Elevated() bool { return winsvc.Elevated() }

func (h *windowsHost) Service() (bool, bool, error) { return winsvc.State() }

func (h *windowsHost) Install(ctx context.Context) error {
	if err := prepareState(h.paths, h.log); err != nil {
		return err
	}
	if err := installService(h.log, h.args); err != nil {
		return err
	}
	installDaemonRule(ctx, h.log, h.paths.port())
	return nil
}

func (h *windowsHost) Start() error { return winsvc.Start() }

// Daemon connects to the service on loopback with the admin token.
func (h *windowsHost) Daemon() (wslfwdv1.ControlServiceClient, func(), error) {
	tok, err := token.Load(h.paths.tokenFile)
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(h.paths.port())))
	c, err := controlclient.Dial(controlclient.Target{Addr: addr, Why: "the service's port"}, tok, h.paths.tokenFile)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.Close() }, nil
}

func (h *windowsHost) RunningDistros(ctx context.Context) (wsl.DistroList, error) {
	return wsl.ListDistros(ctx, true)
}

// StartListener runs python3's HTTP server in the distro as the user
// (distros are the user's: the service cannot enter them), ended by
// timeout in the distro even if wsl.exe's end does not reach it.
func (h *windowsHost) StartListener(ctx context.Context, distro string, port uint16) (func() string, error) {
	cmd := exec.CommandContext(ctx, winexec.SystemPath(`System32\wsl.exe`), "-d", distro, "--",
		"timeout", "120", "python3", "-m", "http.server", strconv.Itoa(int(port)), "--bind", "0.0.0.0")
	cmd.Env = append(os.Environ(), "WSL_UTF8=1")
	// One writer for both: os/exec then copies from one pipe, and the
	// buffer is read only after Wait.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wsl.exe: %w", err)
	}
	return func() string {
		cmd.Process.Kill()
		cmd.Wait()
		return wintext.Decode(out.Bytes())
	}, nil
}

func (h *windowsHost) LANAddress() (netip.Addr, error) {
	ads, err := winhost.Adapters()
	if err != nil {
		return netip.Addr{}, err
	}
	ip, _, err := winhost.LANAddress(ads)
	return ip, err
}

func (h *windowsHost) Connect(ctx context.Context, to netip.AddrPort) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", to.String())
	if err != nil {
		return err
	}
	return c.Close()
}

func (h *windowsHost) FirewallRules(ctx context.Context) ([]string, error) {
	return firewall.New(firewall.SystemShell{}, quiet).Names(ctx)
}

func (h *windowsHost) FirewallOn() bool { return h.paths.cfg.Firewall }

func (h *windowsHost) Uninstall(ctx context.Context) error {
	if err := winsvc.Uninstall(); err != nil {
		return err
	}
	return cleanUp(ctx, h.log, h.paths.stateDir, false)
}
