//go:build !windows

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/relay"
	"github.com/wslfwd/wslfwd/hostd-windows/config"
	"github.com/wslfwd/wslfwd/hostd-windows/engine"
)

// newBackend constructs the backend named name. Off Windows there is the
// relay, and on Linux the kernel's nftables rules (newKernelBackend):
// portproxy is a Windows service.
func newBackend(name string, opts backendOptions) (backend.Backend, error) {
	switch name {
	case config.BackendRelay:
		return relay.New(opts.Relay), nil
	case config.BackendKernel:
		return newKernelBackend(opts)
	case config.BackendPortproxy:
		return nil, fmt.Errorf("backend %q exists only on Windows; use relay", name)
	}
	return nil, fmt.Errorf("unknown backend %q (valid here: %s)", name, otherBackends)
}

// defaultBackendName is the relay: the only backend off Windows.
func defaultBackendName() string { return "relay" }

// defaultListenAddrs is loopback only: off Windows the daemon runs in the
// lab or in tests, which pass --listen for anything else.
func defaultListenAddrs() []string { return []string{"127.0.0.1:17810"} }

// wslAdapter has nothing to follow off Windows: there is no WSL adapter.
func wslAdapter() (lookup func() (netip.Addr, error), onChange func(context.Context, netip.AddrPort) error) {
	return nil, nil
}

// defaultStateDir follows the FHS for variable state.
func defaultStateDir() string { return "/var/lib/wslfwd" }

// platformProblems has no checks off Windows.
func platformProblems(context.Context, string) []*wslfwdv1.Problem { return nil }

// newFirewall has no firewall to manage off Windows: the rules firewall =
// true (the default) asks for live in Windows' firewalls, and the relay
// listens directly (the lab, tests). Saying so once beats refusing to
// start with the default config.
func newFirewall(log *slog.Logger, _ []string) (engine.FirewallSyncer, error) {
	log.Info("firewall = true manages Windows firewall rules; off Windows there are none to manage")
	return nil, nil
}

// newFirewallAuditor is nil off Windows: no Windows firewall stands
// between the LAN and the relay there.
func newFirewallAuditor(*slog.Logger) engine.FirewallAuditor { return nil }

// readTokenByDefault: outside Windows a read token is kept only when
// configured; the state directory is root's, which users cannot reach.
const readTokenByDefault = false
