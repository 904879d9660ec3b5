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
// figure is the median of Sizes.Repeats medians of Sizes.Scans scans.
func (b *run) scanCost(ctx context.Context) (ScanCost, error) {
	out := ScanCost{Established: b.size.Established, Scans: b.size.Scans}
	sc, err := openScanners(b.env.Lab.WSL.Name)
	if err != nil {
		return out, err
	}
	defer sc.close()
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
	none, err := sc.time(b.size.Repeats, b.size.Scans)
	if err != nil {
		return out, err
	}
	out.Listeners = len(sc.socks)
	conns, err := b.establish(ctx, lns, b.size.Established)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return out, err
	}
	estab, err := sc.time(b.size.Repeats, b.size.Scans)
	if err != nil {
		return out, err
	}
	if len(sc.socks) != out.Listeners {
		return out, fmt.Errorf("the scan found %d sockets with the connections open and %d without: the state filter let connections through", len(sc.socks), out.Listeners)
	}
	out.NoneUS, out.NoneUSRange = spread(none.bare)
	out.EstablishedUS, out.EstablishedUSRange = spread(estab.bare)
	out.AgentNoneUS, _ = spread(none.agent)
	out.AgentEstabUS, _ = spread(estab.agent)
	out.Ratio, out.RatioRange = spread(ratios(estab.bare, none.bare))
	out.AgentRatio, out.AgentRatioRange = spread(ratios(estab.agent, none.agent))
	return out, nil
}

// ratios returns a[i] ÷ b[i].
func ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

// scanners are the two scans scanCost compares, open in one namespace.
type scanners struct {
	sd    *sockdiag.Scanner
	sys   *scan.System
	socks []sockdiag.Socket // what the last bare scan found
}

func openScanners(ns string) (*scanners, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer h.Close()
	sd, err := sockdiag.OpenAt(h)
	if err != nil {
		return nil, err
	}
	sys, err := scan.OpenAt(h)
	if err != nil {
		sd.Close()
		return nil, err
	}
	return &scanners{sd: sd, sys: sys}, nil
}

func (s *scanners) close() {
	s.sd.Close()
	s.sys.Close()
}

// scanTimes are the per-repeat medians of both scans, in µs.
type scanTimes struct{ bare, agent []float64 }

// time returns, for each of repeats, the median of n bare scans and of n
// agent reads.
func (s *scanners) time(repeats, n int) (scanTimes, error) {
	var out scanTimes
	for range repeats {
		bare, err := median(n, func() (err error) {
			s.socks, err = s.sd.Scan(s.socks)
			return err
		})
		if err != nil {
			return out, err
		}
		agent, err := median(n, func() error {
			_, err := s.sys.Listeners()
			return err
		})
		if err != nil {
			return out, err
		}
		out.bare, out.agent = append(out.bare, us(bare)), append(out.agent, us(agent))
	}
	return out, nil
}

func us(d time.Duration) float64 { return round3(float64(d) / float64(time.Microsecond)) }

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
	return us(d), err
}
