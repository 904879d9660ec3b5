//go:build linux

package bench

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vishvananda/netns"

	"github.com/wslfwd/wslfwd/agent-linux/scan"
	"github.com/wslfwd/wslfwd/agent-linux/sockdiag"
)

// scanCost times listener scans of wsl with no established connections
// and with Sizes.Established loopback connections (both ends in wsl),
// twice over: the bare sock_diag scan (agent-linux/sockdiag, whose kernel
// state filter should make the two cost the same) and the agent's whole
// listener read (agent-linux/scan: the scan plus the owner lookup). Each
// figure is the median of Sizes.Scans scans.
func (b *run) scanCost(ctx context.Context) (ScanCost, error) {
	out := ScanCost{Established: b.size.Established, Scans: b.size.Scans}
	h, err := netns.GetFromName(b.env.Lab.WSL.Name)
	if err != nil {
		return out, fmt.Errorf("open namespace %s: %w", b.env.Lab.WSL.Name, err)
	}
	defer h.Close()
	sd, err := sockdiag.OpenAt(h)
	if err != nil {
		return out, err
	}
	defer sd.Close()
	sys, err := scan.OpenAt(h)
	if err != nil {
		return out, err
	}
	defer sys.Close()

	// The connections' listeners are open on both sides of the
	// comparison, so both scans find the same sockets.
	lns, err := b.connListeners(b.size.Established)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	if err != nil {
		return out, err
	}
	var socks []sockdiag.Socket
	timeScans := func() (bare, agent time.Duration, err error) {
		bare, err = median(b.size.Scans, func() error {
			socks, err = sd.Scan(socks)
			return err
		})
		if err != nil {
			return 0, 0, err
		}
		agent, err = median(b.size.Scans, func() error {
			_, err := sys.Listeners()
			return err
		})
		return bare, agent, err
	}
	none, agentNone, err := timeScans()
	if err != nil {
		return out, err
	}
	out.Listeners = len(socks)

	conns, err := b.establish(ctx, lns, b.size.Established)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return out, err
	}
	estab, agentEstab, err := timeScans()
	if err != nil {
		return out, err
	}
	if len(socks) != out.Listeners {
		return out, fmt.Errorf("the scan found %d sockets with the connections open and %d without: the state filter let connections through", len(socks), out.Listeners)
	}
	us := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Microsecond)) }
	out.NoneUS, out.EstablishedUS = us(none), us(estab)
	out.AgentNoneUS, out.AgentEstabUS = us(agentNone), us(agentEstab)
	out.Ratio = round3(float64(estab) / float64(none))
	out.AgentRatio = round3(float64(agentEstab) / float64(agentNone))
	return out, nil
}

// perListener is how many connections wait in one listener's accept
// queue: below the kernel's default cap (net.core.somaxconn, 4096).
const perListener = 2000

// connListeners opens enough loopback listeners in wsl to hold n
// unaccepted connections.
func (b *run) connListeners(n int) ([]net.Listener, error) {
	var lns []net.Listener
	for range (n + perListener - 1) / perListener {
		ln, err := b.env.Lab.WSL.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return lns, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// establish opens n TCP connections over loopback inside wsl, spread over
// lns. The server ends stay in the listeners' accept queues: established
// sockets like any other, without a file descriptor, so 10,000 pairs fit
// the open-file limit.
func (b *run) establish(ctx context.Context, lns []net.Listener, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	err := b.env.Lab.WSL.Do(func() error {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			c, err := net.Dial("tcp4", lns[i/perListener].Addr().String())
			if err != nil {
				return fmt.Errorf("connection %d of %d: %w", i+1, n, err)
			}
			conns = append(conns, c)
		}
		return nil
	})
	return conns, err
}

// median runs fn n times and returns the median duration.
func median(n int, fn func() error) (time.Duration, error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2], nil
}

// agentScan returns the median time, in µs, of n listener reads of wsl the
// way the agent does them (agent-linux/scan: the sock_diag scan and the
// owner check of every listener), after one read that fills the owner
// cache as the running agent's is.
func (b *run) agentScan(n int) (float64, error) {
	h, err := netns.GetFromName(b.env.Lab.WSL.Name)
	if err != nil {
		return 0, fmt.Errorf("open namespace %s: %w", b.env.Lab.WSL.Name, err)
	}
	defer h.Close()
	sys, err := scan.OpenAt(h)
	if err != nil {
		return 0, err
	}
	defer sys.Close()
	if _, err := sys.Listeners(); err != nil {
		return 0, err
	}
	d, err := median(n, func() error {
		_, err := sys.Listeners()
		return err
	})
	return round3(float64(d) / float64(time.Microsecond)), err
}
