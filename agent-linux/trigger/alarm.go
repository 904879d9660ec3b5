package trigger

import (
	"context"
	"time"
)

// Alarm wakes the agent once at the time it was last set to: for work a
// scan put off until then. Set it from anywhere; it never blocks.
type Alarm struct {
	set chan time.Time
}

// NewAlarm returns an Alarm that is not set.
func NewAlarm() *Alarm {
	return &Alarm{set: make(chan time.Time, 1)}
}

// Set makes the alarm go off at t (at once if t has passed), in place of
// any time set before that has not come yet.
func (a *Alarm) Set(t time.Time) {
	for {
		select {
		case a.set <- t:
			return
		default:
		}
		select {
		case <-a.set: // not taken up yet: replace it
		default:
		}
	}
}

// Run implements Trigger.
func (a *Alarm) Run(ctx context.Context, wake func()) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop() // not set yet; since Go 1.23 a stopped timer sends nothing
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-a.set:
			timer.Reset(time.Until(t))
		case <-timer.C:
			wake()
		}
	}
}
