package ebpftrigger

import "time"

// coalesce turns events into wake calls until next fails, and returns that
// error. The first event after a quiet spell wakes at once, for latency.
// Events during the following window are absorbed; when the window ends
// the agent is woken again, and if anything arrived meanwhile another
// window starts. So a burst costs one wake per window, and the last event
// is always followed by a wake at least one window later.
//
// That trailing wake is needed even for a lone event: the kernel fires
// inet_sock_set_state before it adds the socket to (or removes it from) the
// lookup tables that sock_diag dumps, so a scan woken at once can, rarely,
// run too early and miss the change.
//
// next blocks until an event arrives (true) or deadline passes (false); a
// zero deadline never passes. Waiting inside next, rather than on a timer
// in another goroutine, saves a hand-off per event.
func coalesce(next func(deadline time.Time) (bool, error), window time.Duration, wake func()) error {
	for {
		if _, err := next(time.Time{}); err != nil {
			return err
		}
		wake()
		for busy := true; busy; {
			end := time.Now().Add(window)
			busy = false
			for {
				got, err := next(end)
				if err != nil {
					return err
				}
				if !got {
					break
				}
				busy = true
			}
			wake()
		}
	}
}
