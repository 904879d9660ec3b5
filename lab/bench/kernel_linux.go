//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	kernelfwd "github.com/wslfwd/wslfwd/hostd-windows/backend/kernel"
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
