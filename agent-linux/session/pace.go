package session

import (
	"context"
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// pace bounds how often the daemon may make the agent do what costs it a
// read of every listener and a message: an echo's start or stop, a
// resync. Whoever holds the agent token may take the daemon's place and
// ask in a loop; a real daemon asks once per `wslfwd probe` and per rare
// resync. Past the burst each request waits its turn, and the stream's
// other messages wait behind it, so a peer that floods is slowed by gRPC's
// flow control rather than served at the agent's full speed.
type pace struct {
	tokens float64
	last   time.Time
}

// Requests a second, and how many may come at once.
const (
	paceRate  = 10
	paceBurst = 10
)

// wait takes a turn, waiting for one if none is left; it returns early
// with ctx's error.
func (p *pace) wait(ctx context.Context) error {
	if d := p.take(time.Now()); d > 0 {
		return trigger.GoTimers{}.Sleep(ctx, d)
	}
	return nil
}

// take takes the turn of a request made at now and returns how long it
// must wait for it: 0 within the burst.
func (p *pace) take(now time.Time) time.Duration {
	if p.last.IsZero() {
		p.tokens = paceBurst
	} else {
		p.tokens = min(paceBurst, p.tokens+now.Sub(p.last).Seconds()*paceRate)
	}
	p.last = now
	p.tokens--
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / paceRate * float64(time.Second))
}
