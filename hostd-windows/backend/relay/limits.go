package relay

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/logfile"
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

// newRefusalLog is a forward's budget for those lines: one per
// refusalLogEvery, which counts the refusals held back before it.
func newRefusalLog() *logfile.Budget { return logfile.NewBudget(refusalLogEvery, 1) }

// logRefusal logs, within the forward's budget, a client refused at the
// relay's cap (byRelay) or at the forward's own (limit).
func logRefusal(b *logfile.Budget, log *slog.Logger, byRelay bool, limit int) {
	if byRelay {
		b.Log(log, time.Now(), slog.LevelWarn, "the relay carries as many clients as it may, for all forwards: new clients are refused until some end")
	} else {
		b.Log(log, time.Now(), slog.LevelWarn, "this forward carries as many clients as it may: new clients are refused until some end", "limit", limit)
	}
}
