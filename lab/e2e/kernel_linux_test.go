//go:build linux

package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/backend/kernel"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// ipForward is the switch the kernel backend needs and never sets. The
// lab's winhost starts with it off; the test turns it on in that
// namespace (the test's own, gone when the lab is), as a user would on
// the host.
const ipForward = "net/ipv4/ip_forward"

// With --backend kernel a service in wsl is reachable from lan through
// the host's address by a DNAT rule in `inet wslfwd` (no process listens
// in winhost); a daemon restart adopts the rule, unchanged, and it carries
// connections throughout; closing the service removes the rule; and
// nftables state the daemon did not make is never touched.
func TestKernelBackendForwards(t *testing.T) {
	ctx, env := startWithAgent(t, labrun.Options{Backend: "kernel"})
	wh := env.Lab.WinHost
	want := backend.Entry{Protocol: backend.TCP,
		Listen:  netip.MustParseAddrPort("0.0.0.0:9201"),
		Connect: netip.AddrPortFrom(wslAddr, 9201)}
	foreign := addForeignRules(t, wh)

	ln := tcpEcho(t, env.Lab.WSL, "0.0.0.0:9201")
	f, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: 9201, State: wslfwdv1.ForwardState_FORWARD_STATE_ERROR})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.GetReason(), "ip_forward") {
		t.Errorf("with forwarding off in winhost: %s; want a reason naming ip_forward", describe(f))
	}
	if err := wh.Sysctl(ipForward, "1"); err != nil {
		t.Fatal(err)
	}
	kernelForwardActive(ctx, t, env, want)
	rule := kernelRule(t, wh, want)
	if n := listeners(t, wh, 9201); n != 0 {
		t.Errorf("%d sockets listen on port 9201 in winhost; the kernel backend should need none", n)
	}
	if err := env.EchoFromLAN(ctx, "tcp", 9201); err != nil {
		t.Fatalf("from lan through the DNAT rule: %v", err)
	}

	restartKernelDaemon(ctx, t, env, want, rule)

	ln.Close()
	if err := env.WaitNoForward(ctx, labrun.Match{Protocol: tcp, Port: 9201}); err != nil {
		t.Fatal(err)
	}
	err = env.Wait(ctx, "the rule of port 9201 to leave inet wslfwd", func(context.Context) (bool, error) {
		rs, err := readRules(wh)
		return err == nil && !slices.ContainsFunc(rs, func(r kernel.Rule) bool { return r.Entry.Key() == want.Key() }), err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.RefusedFromLAN(ctx, 9201); err != nil {
		t.Error(err)
	}
	if after := foreignState(t, wh); !slices.Equal(after, foreign) {
		t.Errorf("nftables state the daemon does not own changed:\nbefore %q\nafter  %q", foreign, after)
	}
}

// kernelForwardActive waits for want's forward to be ACTIVE and checks
// that `wslfwd forwards` shows it with backend kernel.
func kernelForwardActive(ctx context.Context, t *testing.T, env *labrun.Env, want backend.Entry) {
	t.Helper()
	port := uint32(want.Listen.Port())
	if _, err := env.WaitForward(ctx, labrun.Match{Protocol: tcp, Port: port, State: active}); err != nil {
		t.Fatal(err)
	}
	var fwd wslfwdv1.ListForwardsResponse
	if err := env.CLIJSON(ctx, &fwd, "forwards"); err != nil {
		t.Fatal(err)
	}
	fs := fwd.GetForwards()
	if len(fs) != 1 || fs[0].GetListenPort() != port || fs[0].GetConnectAddress() != want.Connect.Addr().String() ||
		fs[0].GetBackend() != "kernel" || fs[0].GetState() != active {
		t.Errorf("wslfwd forwards -o json: want one ACTIVE forward of port %d to %s with backend kernel, got %v", port, want.Connect, fs)
	}
}

// restartKernelDaemon stops and starts the daemon while lan echoes
// through the forward, and checks that every echo succeeded and that the
// rule stayed throughout, under the same handle (never deleted and added
// again).
func restartKernelDaemon(ctx context.Context, t *testing.T, env *labrun.Env, want backend.Entry, rule kernel.Rule) {
	t.Helper()
	stopProbe := probeFromLAN(ctx, env, want.Listen.Port())
	if err := env.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	if r := kernelRule(t, env.Lab.WinHost, want); r != rule {
		t.Errorf("with the daemon stopped: rule %+v, want %+v", r, rule)
	}
	if err := env.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	err := env.Wait(ctx, "the agent to reconnect", func(ctx context.Context) (bool, error) {
		a, err := env.Agent(ctx, "Ubuntu")
		return a != nil && a.GetConnected(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	kernelForwardActive(ctx, t, env, want)
	probes, failed, first := stopProbe()
	t.Logf("%d echoes from lan across the daemon's restart", probes)
	if probes == 0 || failed > 0 {
		t.Errorf("echoes from lan across the daemon's restart: %d of %d failed (first: %v)", failed, probes, first)
	}
	if r := kernelRule(t, env.Lab.WinHost, want); r != rule {
		t.Errorf("after the restart: rule %+v, want %+v (adopted, not made again)", r, rule)
	}
}

// readRules lists the forwards in ns's `inet wslfwd`, read from the kernel.
func readRules(ns *netlab.NS) (rs []kernel.Rule, err error) {
	err = ns.Do(func() error {
		rs, err = kernel.ReadRules()
		return err
	})
	return rs, err
}

// kernelRule returns the one rule in ns's `inet wslfwd` for want's key,
// which must carry want.
func kernelRule(t *testing.T, ns *netlab.NS, want backend.Entry) kernel.Rule {
	t.Helper()
	rs, err := readRules(ns)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rs, func(r kernel.Rule) bool { return r.Entry.Key() == want.Key() })
	if i < 0 || rs[i].Entry != want {
		t.Fatalf("rules in inet wslfwd: %+v; want one for %s", rs, want)
	}
	return rs[i]
}
