package ebpftrigger

import (
	"context"
	"time"
)

// coalesce turns a stream of activity signals into wake calls until ctx is
// done. The first signal after a quiet spell wakes at once, for latency.
// Signals during the following window are absorbed; when the window ends
// the agent is woken again, and if anything arrived meanwhile another
// window starts. So a burst costs one wake per window, and the last event
// is always followed by a wake at least one window later.
//
// That trailing wake is needed even for a lone event: the kernel fires
// inet_sock_set_state before it adds the socket to (or removes it from) the
// lookup tables that sock_diag dumps, so a scan woken at once can, rarely,
// run too early and miss the change.
//
// windowEnd starts a window and returns the channel that fires when it ends.
func coalesce(ctx context.Context, activity <-chan struct{}, windowEnd func() <-chan time.Time, wake func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-activity:
		}
		wake()
		for busy := true; busy; {
			select {
			case <-ctx.Done():
				return
			case <-windowEnd():
			}
			wake()
			select {
			case <-activity:
			default:
				busy = false
			}
		}
	}
}

// timerWindow returns a windowEnd for coalesce backed by one reusable timer,
// and the function that stops it.
func timerWindow(window time.Duration) (windowEnd func() <-chan time.Time, stop func()) {
	timer := time.NewTimer(window)
	timer.Stop()
	return func() <-chan time.Time {
		timer.Reset(window)
		return timer.C
	}, func() { timer.Stop() }
}
