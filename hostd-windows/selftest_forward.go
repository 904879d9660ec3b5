package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
)

// forward starts a test listener in the distro and checks what the daemon
// makes of it: the forward, a connection at the host's LAN address, the
// firewall rule. The listener is stopped again.
func (r *selftestReport) forward(ctx context.Context, h selftestHost, c wslfwdv1.ControlServiceClient, distro string, o selftestOptions) {
	stop, err := h.StartListener(ctx, distro, o.port)
	if err != nil {
		r.add(vFail, "test listener", "in %s on port %d: %v", distro, o.port, err)
		return
	}
	r.add(vPass, "test listener", "TCP port %d in %s", o.port, distro)
	f, err := waitForward(ctx, c, distro, o)
	said := stopWhenDone(stop)
	defer said()
	if err != nil {
		// A listener that could not start (no python3) said why.
		r.add(vFail, "forward", "%v; the test listener said: %s", err, orNothing(strings.TrimSpace(said())))
		return
	}
	r.add(vPass, "forward", "%s %s:%d -> %s:%d (%s)", stateWord(f.GetState()), f.GetListenAddress(), f.GetListenPort(),
		f.GetConnectAddress(), f.GetConnectPort(), f.GetBackend())
	port := uint16(f.GetListenPort())
	r.lan(ctx, h, port)
	r.rule(ctx, h, f, o)
}

// stopWhenDone returns a func that stops the listener once, on its first
// call, and returns what it printed on every call.
func stopWhenDone(stop func() string) func() string {
	var said string
	stopped := false
	return func() string {
		if !stopped {
			said, stopped = stop(), true
		}
		return said
	}
}

// waitForward polls the daemon's forwards until the test listener's is
// active (or direct, in mirrored mode and WSL1), for at most o.wait.
func waitForward(ctx context.Context, c wslfwdv1.ControlServiceClient, distro string, o selftestOptions) (*wslfwdv1.Forward, error) {
	ctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	last := "not listed by the daemon"
	for {
		resp, err := c.ListForwards(ctx, &wslfwdv1.ListForwardsRequest{All: true})
		if err != nil {
			return nil, fmt.Errorf("list forwards: %w", err)
		}
		for _, f := range resp.GetForwards() {
			if f.GetDistro() != distro || f.GetConnectPort() != uint32(o.port) || f.GetProtocol() != wslfwdv1.Protocol_PROTOCOL_TCP {
				continue
			}
			switch f.GetState() {
			case wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, wslfwdv1.ForwardState_FORWARD_STATE_DIRECT:
				return f, nil
			}
			last = fmt.Sprintf("%s: %s", stateWord(f.GetState()), f.GetReason())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the test listener on port %d was not forwarded within %s (%s)", o.port, o.wait, last)
		case <-time.After(o.poll):
		}
	}
}

// lan connects to the forward at the host's LAN address, and says what
// that does not prove.
func (r *selftestReport) lan(ctx context.Context, h selftestHost, port uint16) {
	ip, err := h.LANAddress()
	if err != nil {
		r.add(vFail, "host LAN address", "%v", err)
		return
	}
	to := netip.AddrPortFrom(ip, port)
	if err := h.Connect(ctx, to); err != nil {
		r.add(vFail, "connect at the LAN address", "%s: %v", to, err)
		return
	}
	r.add(vPass, "connect at the LAN address", "%s from this host (the host path only: Windows Firewall does not filter the host's own "+
		"connections; from another PC run wslfwd probe --from-lan %s --port <a forwarded port>)", to, ip)
}

// rule waits for the forward's firewall rule when the daemon makes rules.
func (r *selftestReport) rule(ctx context.Context, h selftestHost, f *wslfwdv1.Forward, o selftestOptions) {
	const name = "firewall rule"
	if !h.FirewallOn() {
		r.add(vSkip, name, "firewall = false: the daemon makes no rules; wslfwd doctor names the forwarded ports no rule of yours allows")
		return
	}
	if f.GetState() == wslfwdv1.ForwardState_FORWARD_STATE_DIRECT {
		r.add(vSkip, name, "a direct forward (mirrored mode, WSL1): its rule may be in the Hyper-V firewall, which selftest does not list")
		return
	}
	want := firewall.Rule{Kind: firewall.Windows, Protocol: backend.TCP, Port: uint16(f.GetListenPort())}.Name()
	ctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	for {
		names, err := h.FirewallRules(ctx)
		if err != nil {
			r.add(vFail, name, "%v", err)
			return
		}
		if n := count(names, want); n == 1 {
			r.add(vPass, name, "%q exists", want)
			return
		} else if n > 1 {
			r.add(vFail, name, "%q exists %d times", want, n)
			return
		}
		select {
		case <-ctx.Done():
			r.add(vFail, name, "%q not made within %s (wslfwd status shows why)", want, o.wait)
			return
		case <-time.After(o.poll):
		}
	}
}

func count(names []string, want string) int {
	n := 0
	for _, s := range names {
		if s == want {
			n++
		}
	}
	return n
}

// probe runs the daemon's probe, each path a check.
func (r *selftestReport) probe(ctx context.Context, c wslfwdv1.ControlServiceClient, distro string) {
	resp, err := c.Probe(ctx, &wslfwdv1.ProbeRequest{Distro: distro})
	if err != nil {
		r.add(vFail, "probe", "%v", err)
		return
	}
	for _, p := range resp.GetPaths() {
		v, detail := vPass, fmt.Sprintf("%s -> %s", p.GetFrom(), p.GetTo())
		if !p.GetOk() {
			v, detail = vFail, detail+": "+p.GetError()
		}
		if p.GetName() == "lan-to-wsl" {
			detail += " (on this host: not a LAN client's path)"
		}
		r.add(v, "probe "+p.GetName(), "%s", detail)
	}
}

// stateWord is a forward state as wslfwd forwards prints it.
func stateWord(s wslfwdv1.ForwardState) string {
	return modeWord(s.String(), "FORWARD_STATE_")
}
