package portproxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// TestCheckExcludedWhenListingFails: when netsh cannot list the excluded
// ranges, the trial bind still tells an excluded port (WSAEACCES) from
// one another process holds, so the forward reads BLOCKED, not CONFLICT
// or, after portproxy fails to listen, ERROR.
func TestCheckExcludedWhenListingFails(t *testing.T) {
	refused := &net.OpError{Op: "listen", Net: "tcp4", Err: os.NewSyscallError("bind", syscall.WSAEACCES)}
	c := &PortCheck{
		Ranges: func(context.Context, bool) ([]PortRange, error) { return nil, errors.New("netsh failed") },
		Bind:   func(netip.AddrPort) error { return refused },
	}
	e := backend.Entry{Protocol: backend.TCP, Listen: netip.MustParseAddrPort("0.0.0.0:50000"), Connect: netip.MustParseAddrPort("172.28.240.53:50000")}
	err := c.Check(context.Background(), e)
	if !errors.Is(err, backend.ErrExcludedPort) || errors.Is(err, backend.ErrPortInUse) {
		t.Errorf("Check(%v) = %v, want ErrExcludedPort alone", e, err)
	}
}
