//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	kernelfwd "github.com/wslfwd/wslfwd/hostd-windows/backend/kernel"
	"github.com/wslfwd/wslfwd/lab/labrun"
	"github.com/wslfwd/wslfwd/lab/netlab"
)

// forwardingSysctl turns IPv4 forwarding on or off in winhost, which the
// lab keeps off (only forwards may carry lan to wsl): a kernel forward
// needs it.
const forwardingSysctl = "net/ipv4/conf/all/forwarding"

// kernelForward makes, in winhost, the kernel backend's forward from the
// host's LAN address at port+Sizes.KernelOffset to the sink in wsl, with
// forwarding on, and checks it as the daemon would (the rule read back,
// Verify). It drives the backend the daemon runs with --backend kernel
// directly, not through a second daemon: the agent serves one daemon, and
// the rule, hence the path measured, is the same. undo removes the
// forward and turns forwarding off again.
func (b *run) kernelForward(port uint16) (undo func() error, err error) {
	wh := b.env.Lab.WinHost
	if err := wh.Sysctl(forwardingSysctl, "1"); err != nil {
		return nil, err
	}
	e := backend.Entry{Protocol: backend.TCP,
		Listen:  hostPort(int(port) + b.size.KernelOffset),
		Connect: netip.AddrPortFrom(netlab.WSLAddr.Addr(), port)}
	var kb *kernelfwd.Backend
	off := func() error { return wh.Sysctl(forwardingSysctl, "0") }
	// In winhost: the backend's netlink socket and its port check are
	// opened there, and Verify reads winhost's sysctls.
	err = wh.Do(func() error {
		log := slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if kb, err = kernelfwd.New(kernelfwd.Options{Logger: log}); err != nil {
			return err
		}
		if err := kb.Apply(context.Background(), backend.Batch{Add: []backend.Entry{e}}); err != nil {
			return err
		}
		return errors.Join(kb.Verify(context.Background(), []backend.Entry{e})[e])
	})
	if err != nil {
		if kb != nil {
			kb.Close()
		}
		return nil, fmt.Errorf("kernel forward %s: %w", e, errors.Join(err, off()))
	}
	return func() error {
		err := wh.Do(func() error {
			return kb.Apply(context.Background(), backend.Batch{Remove: []backend.Entry{e}})
		})
		return errors.Join(err, kb.Close(), off())
	}, nil
}

// kernelDistro is the agent that serves the daemon on the kernel backend.
const kernelDistro = "bench-kernel"

// kernelTrials restarts the daemon with --backend kernel, with IPv4
// forwarding on in winhost (left on: the namespace goes with the lab),
// starts an eBPF agent and runs the relay's forward/unforward trials
// through it with the same prober, on ports past both modes'. The
// forward half is the same echo from lan, carried by the DNAT rule. The
// unforward half ends when the rule is gone from the table, read back in
// winhost: while the rule is still there, wsl refuses lan's connection
// just as the host does once it is gone, so a refusal cannot tell.
func (b *run) kernelTrials(ctx context.Context, m *ModeResult) error {
	b.step(fmt.Sprintf("[kernel] restart the daemon with --backend kernel, an eBPF agent; %d forward/unforward trials in %d repeats",
		b.size.Trials, b.size.Repeats))
	if err := b.env.StopDaemon(); err != nil {
		return err
	}
	b.env.Backend = "kernel"
	if err := b.env.Lab.WinHost.Sysctl(forwardingSysctl, "1"); err != nil {
		return err
	}
	if err := b.env.StartDaemon(ctx); err != nil {
		return err
	}
	agent, err := b.env.StartAgent(ctx, labrun.AgentOptions{Distro: kernelDistro,
		Args: []string{"--trigger", ModeEBPF, "--log-level", "warn"}})
	if err != nil {
		return err
	}
	first := b.size.TrialPort + 2*b.size.Trials
	fwd, unfwd, err := b.repeated(b.size.Trials, func(i int) (trialResult, error) {
		port := first + i
		return b.trial(ctx, port, hostPort(port), 0, b.ruleGone(uint16(port)))
	})
	if err != nil {
		return err
	}
	m.Kernel = &BackendLatency{Forward: fwd, Unforward: unfwd}
	if err := agent.Stop(5 * time.Second); err != nil && !signalled(err) {
		return fmt.Errorf("stop the kernel backend's agent: %w", err)
	}
	return nil
}

// ruleGone sees a kernel forward of port gone: winhost's table holds no
// rule for it.
func (b *run) ruleGone(port uint16) *goneCheck {
	return &goneCheck{b.env.Lab.WinHost, func() answer {
		rs, err := kernelfwd.ReadRules()
		if err == nil && !slices.ContainsFunc(rs, func(r kernelfwd.Rule) bool { return r.Entry.Listen.Port() == port }) {
			return done
		}
		return notYet
	}}
}
