//go:build linux

package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"time"

	"github.com/wslfwd/wslfwd/lab/netlab"
)

// reachTimeout bounds one echo through a forward.
const reachTimeout = 2 * time.Second

// EchoFromLAN sends a message over network ("tcp" or "udp") from lan to
// the host's LAN address and port, where forwards listen, and checks that
// the same bytes come back from an echo service behind the forward.
func (e *Env) EchoFromLAN(ctx context.Context, network string, port uint16) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	addr := netip.AddrPortFrom(netlab.HostLANAddr.Addr(), port).String()
	c, err := e.Lab.LAN.Dial(ctx, network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	msg := fmt.Sprintf("ping %s %d %d", network, port, time.Now().UnixNano())
	if _, err := io.WriteString(c, msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg)+16)
	n, err := io.ReadAtLeast(c, buf, len(msg))
	if err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if got := string(buf[:n]); got != msg {
		return fmt.Errorf("echo = %q, want %q", got, msg)
	}
	return nil
}

// RefusedFromLAN checks that nothing answers TCP on the host's LAN
// address and port: no forward listens there.
func (e *Env) RefusedFromLAN(ctx context.Context, port uint16) error {
	err := e.EchoFromLAN(ctx, "tcp", port)
	if err == nil {
		return fmt.Errorf("port %d answers from lan", port)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("port %d from lan: want connection refused, got %v", port, err)
	}
	return nil
}
