package trigger

import (
	"context"
	"errors"
	"time"
)

// Paced wakes the agent as often as a CPU budget allows: every Min while a
// scan is cheap, less often when scans cost more (many listeners), so
// scanning without the eBPF trigger never spends more than Budget of one
// core, and never waits longer than Max.
type Paced struct {
	Min, Max time.Duration
	// Budget is the share of one core scans may take, e.g. 0.002.
	Budget float64
	// Cost reports what the last scan took; 0 before the first.
	Cost func() time.Duration
	// Sleeper waits between scans; nil uses the platform's own (see
	// Timerfd), made per Run.
	Sleeper Sleeper
}

// Sleeper waits for d, or until ctx is done, when it returns ctx.Err().
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// GoTimers is the Sleeper on Go's timers: the platforms' default but
// Linux's, and what tests in a synctest bubble use.
type GoTimers struct{}

// Sleep implements Sleeper.
func (GoTimers) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wait returns how long Paced waits after a scan that cost cost.
func (p Paced) Wait(cost time.Duration) time.Duration {
	return min(max(time.Duration(float64(cost)/p.Budget), p.Min), p.Max)
}

// Run implements Trigger.
func (p Paced) Run(ctx context.Context, wake func()) error {
	if p.Min <= 0 || p.Max < p.Min || p.Budget <= 0 || p.Cost == nil {
		return errors.New("paced scans need 0 < Min <= Max, a positive budget and a cost")
	}
	sl := p.Sleeper
	if sl == nil {
		var release func()
		sl, release = platformSleeper()
		defer release()
	}
	for {
		if err := sl.Sleep(ctx, p.Wait(p.Cost())); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wake()
	}
}
