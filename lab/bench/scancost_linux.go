//go:build linux

package bench

import (
	"context"
	"errors"
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

	// The connections' listener is open on both sides of the comparison,
	// so both scans find the same sockets.
	ln, err := b.env.Lab.WSL.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return out, err
	}
	defer ln.Close()
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

	conns, err := b.establish(ctx, ln, b.size.Established)
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

// establish opens n TCP connections to ln, a loopback listener inside
// wsl, and returns both ends of each. On error ln is closed.
func (b *run) establish(ctx context.Context, ln net.Listener, n int) ([]net.Conn, error) {
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
		close(accepted)
	}()
	conns := make([]net.Conn, 0, 2*n)
	err := b.env.Lab.WSL.Do(func() error {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return fmt.Errorf("connection %d of %d: %w", i+1, n, err)
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		ln.Close()
		for c := range accepted {
			conns = append(conns, c)
		}
		return conns, err
	}
	for range n {
		select {
		case c, ok := <-accepted:
			if !ok {
				return conns, errors.New("the listener stopped accepting")
			}
			conns = append(conns, c)
		case <-time.After(10 * time.Second):
			ln.Close()
			return conns, fmt.Errorf("only %d of %d connections accepted", len(conns)-n, n)
		}
	}
	return conns, nil
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
