package session

import (
	"math/rand/v2"
	"time"
)

// backoff paces reconnects: capped exponential, each wait random up to the
// current bound (full jitter) so that many agents do not retry in step,
// and back to the shortest after a healthy session.
type backoff struct {
	min, max time.Duration
	failures int // attempts since the last healthy session
}

// next returns the wait before the next attempt and counts this failure.
func (b *backoff) next() time.Duration {
	bound := min(b.max, b.min<<min(b.failures, 20))
	b.failures++
	return rand.N(bound) + time.Millisecond
}

// reset starts afresh: the session that just ended was healthy.
func (b *backoff) reset() { b.failures = 0 }
