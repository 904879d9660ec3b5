package portproxy

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// PortCheck decides whether a host port can take a new entry, for
// Options.CheckPort: not inside an excluded port range, not held by
// another process.
type PortCheck struct {
	// Ranges lists the excluded ranges for IPv6 (v6) or IPv4 listen
	// addresses. An error is logged and the range check skipped: Bind then
	// finds an excluded port (Windows refuses the bind with WSAEACCES), and
	// the read-back still tells the truth.
	Ranges func(ctx context.Context, v6 bool) ([]PortRange, error)
	// Bind tries to take the address and port for a moment, as portproxy
	// would; an error means another process holds it, or, where
	// backend.BindRefusal says so, that the port is excluded. nil skips the
	// check. TryListen is the usual choice.
	Bind func(netip.AddrPort) error
	// TTL is how long ranges are reused before being listed again; they
	// change only when Hyper-V, WinNAT or an administrator reserves ports.
	TTL time.Duration
	// Log receives a failure to list the ranges; nil means
	// slog.Default().
	Log *slog.Logger

	mu     sync.Mutex
	cached [2]cachedRanges // [0] IPv4, [1] IPv6
}

type cachedRanges struct {
	at     time.Time
	ranges []PortRange
}

// Check returns an error wrapping backend.ErrExcludedPort or
// backend.ErrPortInUse when e's listen port cannot be used.
func (c *PortCheck) Check(ctx context.Context, e backend.Entry) error {
	port := e.Listen.Port()
	for _, r := range c.ranges(ctx, e.Listen.Addr().Is6()) {
		if r.Contains(port) {
			return fmt.Errorf("port %d lies in the excluded range %d-%d (netsh int ipv%s show excludedportrange protocol=tcp): %w",
				port, r.Start, r.End, family(e.Listen.Addr()), backend.ErrExcludedPort)
		}
	}
	if c.Bind != nil {
		if err := c.Bind(e.Listen); err != nil {
			// The bind is the host's own reading: it also finds an excluded
			// port when listing the ranges failed.
			return fmt.Errorf("%s cannot be bound (%v): %w", e.Listen, err, cmp.Or(backend.BindRefusal(err), backend.ErrPortInUse))
		}
	}
	return nil
}

func (c *PortCheck) ranges(ctx context.Context, v6 bool) []PortRange {
	if c.Ranges == nil {
		return nil
	}
	i := 0
	if v6 {
		i = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr := c.cached[i]; !cr.at.IsZero() && time.Since(cr.at) < c.TTL {
		return cr.ranges
	}
	r, err := c.Ranges(ctx, v6)
	if err != nil {
		cmp.Or(c.Log, slog.Default()).Warn("cannot list excluded port ranges; not checking them", "ipv6", v6, "err", err)
		return nil
	}
	c.cached[i] = cachedRanges{at: time.Now(), ranges: r}
	return r
}

// TryListen listens on the TCP address and port and stops at once. It is
// how the host's port table is asked whether a port is free without
// parsing it: an error means the port is taken (or the address is not the
// host's). It listens on the address's family only, as portproxy does:
// Go's "tcp" on an unspecified address is dual-stack, and would read a
// port held on the other family alone as taken.
func TryListen(ap netip.AddrPort) error {
	network := "tcp6"
	if ap.Addr().Is4() {
		network = "tcp4"
	}
	l, err := net.ListenTCP(network, net.TCPAddrFromAddrPort(ap))
	if err != nil {
		return err
	}
	return l.Close()
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "4"
	}
	return "6"
}
