//go:build windows

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/windows"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/hostd-windows/portproxy"
	"github.com/wslfwd/wslfwd/hostd-windows/winhost"
	"github.com/wslfwd/wslfwd/hostd-windows/winsvc"
	"github.com/wslfwd/wslfwd/internal/endpoint"
)

// newBackend constructs the backend named name. It first restricts the
// state directory (tokens, ledger) to Administrators and SYSTEM: the
// directory under %ProgramData% would otherwise let every user read it.
func newBackend(name string, opts backendOptions) (backend.Backend, error) {
	if err := winsvc.SecureDir(opts.StateDir); err != nil {
		opts.Logger.Warn("cannot restrict the state directory to Administrators and SYSTEM", "dir", opts.StateDir, "err", err)
	}
	switch name {
	case "portproxy":
		return portproxy.NewSystem(opts.Logger, opts.Metrics.NetshRan), nil
	case "relay":
		return relay.New(opts.Relay), nil
	case config.BackendKernel:
		return nil, fmt.Errorf("backend %q (nftables rules) exists only on Linux; on Windows use portproxy or relay", name)
	}
	return nil, fmt.Errorf("unknown backend %q (valid: portproxy, relay)", name)
}

// defaultBackendName is portproxy, Windows' own forwarder.
func defaultBackendName() string { return "portproxy" }

// defaultListenAddrs is loopback, served from the start; the WSL adapter's
// address is followed as it comes and goes (wslAdapter). Never every
// address.
func defaultListenAddrs() []string {
	return []string{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), endpoint.DefaultPort).String()}
}

// wslAdapter looks up the host's address on the WSL network, and after the
// daemon listens on a new one, points the daemon's inbound firewall rule
// (made by install, limited to that address) at it: the address usually
// changes with every Windows reboot.
func wslAdapter() (lookup func() (netip.Addr, error), onChange func(context.Context, netip.AddrPort) error) {
	lookup = func() (netip.Addr, error) {
		addr, _, err := winhost.HostWSLAddress()
		return addr, err
	}
	onChange = func(ctx context.Context, ap netip.AddrPort) error {
		fw := firewall.New(firewall.SystemShell{}, quiet)
		if err := fw.SetDaemonRule(ctx, ap.Addr(), ap.Port()); err != nil {
			return fmt.Errorf("cannot point the daemon's firewall rule at %s (agents in NAT mode may not reach the daemon): %w", ap, err)
		}
		return nil
	}
	return lookup, onChange
}

// defaultStateDir is %ProgramData%\wslfwd, found through the known
// folder rather than the environment, which a service may not share with
// the console that installed it.
func defaultStateDir() string {
	root, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || !filepath.IsAbs(root) {
		root = `C:\ProgramData`
	}
	return filepath.Join(root, "wslfwd")
}

// problemCache keeps the host checks for a few seconds: GetStatus calls
// platformProblems every time, and the checks ask the service manager.
var problemCache struct {
	sync.Mutex
	at       time.Time
	problems []portproxy.Problem
}

const problemTTL = 5 * time.Second

// platformProblems reports elevation and, for portproxy, the IP Helper
// service.
func platformProblems(_ context.Context, backendName string) []*wslfwdv1.Problem {
	problemCache.Lock()
	if time.Since(problemCache.at) > problemTTL {
		problemCache.problems = portproxy.ReadHostState().Problems()
		problemCache.at = time.Now()
	}
	ps := problemCache.problems
	problemCache.Unlock()

	var out []*wslfwdv1.Problem
	for _, p := range ps {
		if backendName != "portproxy" && p.Code != "not-elevated" {
			continue // iphlpsvc matters only to portproxy
		}
		out = append(out, &wslfwdv1.Problem{Code: p.Code, Message: p.Message, Hint: p.Hint})
	}
	return out
}

// newFirewall keeps the forwards' inbound rules in Windows Defender
// Firewall (NAT mode, WSL1) and the Hyper-V firewall (mirrored mode).
func newFirewall(log *slog.Logger, profiles []string) (engine.FirewallSyncer, error) {
	return firewall.New(firewall.SystemShell{}, log, profiles...), nil
}

// newFirewallAuditor checks, with firewall = false, that inbound rules of
// the user's let LAN clients reach the forwards (GetStatus, doctor).
func newFirewallAuditor(log *slog.Logger) engine.FirewallAuditor {
	return firewall.New(firewall.SystemShell{}, log)
}

// readTokenByDefault: on Windows the daemon keeps a read token beside the
// admin token, which install lets Users read, so that the CLI's read
// commands work from a normal prompt.
const readTokenByDefault = true
