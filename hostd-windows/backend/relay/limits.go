package relay

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// budget counts what all of a relay's forwards hold for their clients:
// carried TCP connections and UDP flows together. Each holds a port of
// the host's (its own connection to the target), goroutines and, off
// Linux, copy buffers; anyone who reaches a forward's address, the LAN
// included, may open as many as it likes. So past the relay-wide cap a
// new one is refused, and the host's ports and the daemon's memory stay
// bounded however many forwards a flood spreads over.
type budget struct {
	max  int64
	used atomic.Int64
}

// take reserves one connection or flow; false when the cap is reached.
func (b *budget) take() bool {
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		return false
	}
	return true
}

// give returns what take reserved.
func (b *budget) give() { b.used.Add(-1) }

// refusalLogEvery bounds how often one forward logs that it refuses
// clients: a flood refused at the cap must not become a flood of logs.
const refusalLogEvery = time.Minute

// refusals logs a forward's refused clients, at most once per
// refusalLogEvery, with how many were refused since the last line.
type refusals struct {
	mu      sync.Mutex
	last    time.Time
	pending int
}

// note counts one refusal, at the relay's cap (byRelay) or at the
// forward's own (limit), and logs when the last line is old enough.
func (r *refusals) note(log *slog.Logger, byRelay bool, limit int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	now := time.Now()
	if now.Sub(r.last) < refusalLogEvery {
		return
	}
	if byRelay {
		log.Warn("the relay carries as many clients as it may, for all forwards: new clients are refused until some end", "refused", r.pending)
	} else {
		log.Warn("this forward carries as many clients as it may: new clients are refused until some end", "limit", limit, "refused", r.pending)
	}
	r.last, r.pending = now, 0
}
