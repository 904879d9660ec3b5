// Package trigger decides when the agent re-scans its listening sockets.
//
// The agent core owns the scan; a Trigger only says "look now". Keeping the
// two apart lets a cheap periodic ticker and an event-driven source (the
// eBPF trigger in agent-linux/ebpftrigger) be swapped or combined without
// the core knowing which one runs.
package trigger

import (
	"context"
	"errors"
	"time"
)

// Trigger calls wake whenever the listening sockets may have changed.
//
// Run blocks until ctx is done (then it returns nil or ctx.Err()) or the
// trigger can no longer work (then it returns the reason; the agent logs it
// and falls back to another trigger). wake never blocks and coalesces: many
// calls before the agent gets round to scanning cause one scan, so a trigger
// may call it as often as events arrive.
type Trigger interface {
	Run(ctx context.Context, wake func()) error
}

// Ticker wakes the agent every Interval: the portable fallback that needs
// no privileges beyond reading sock_diag.
type Ticker struct {
	Interval time.Duration
}

// Run implements Trigger.
func (t Ticker) Run(ctx context.Context, wake func()) error {
	if t.Interval <= 0 {
		return errors.New("scan interval must be positive")
	}
	tk := time.NewTicker(t.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
			wake()
		}
	}
}

// Func adapts a plain function to Trigger.
type Func func(ctx context.Context, wake func()) error

// Run implements Trigger.
func (f Func) Run(ctx context.Context, wake func()) error { return f(ctx, wake) }
