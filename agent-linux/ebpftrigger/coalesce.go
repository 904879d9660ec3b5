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
func coalesce(ctx context.Context, activity <-chan struct{}, window time.Duration, wake func()) {
	timer := time.NewTimer(window)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-activity:
		}
		wake()
		for busy := true; busy; {
			timer.Reset(window)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
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
