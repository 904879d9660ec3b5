package logfile

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Budget bounds the lines of one kind written per window, so that a peer
// who can repeat what makes them (a token holder looping agent sessions,
// inventing distro names) cannot turn the rotated log over and lose what
// came before: past the budget, lines are held back and counted, and the
// count goes with the next line written.
type Budget struct {
	every time.Duration
	max   int

	mu       sync.Mutex
	windowAt time.Time
	used     int // lines written in the window that began at windowAt
	held     int // lines held back since the last one written
}

// NewBudget allows max lines per window of every.
func NewBudget(every time.Duration, max int) *Budget {
	return &Budget{every: every, max: max}
}

// Take reports whether a line may be written at now and, when it may, how
// many lines were held back since the last one written (for the line to
// say). A line that may not is counted.
func (b *Budget) Take(now time.Time) (ok bool, held int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.windowAt) >= b.every {
		b.windowAt, b.used = now, 0
	}
	if b.used >= b.max {
		b.held++
		return false, 0
	}
	b.used++
	held, b.held = b.held, 0
	return true, held
}

// Log logs msg at level through log if the budget allows a line at now;
// the line counts those held back before it (lines_held_back).
func (b *Budget) Log(log *slog.Logger, now time.Time, level slog.Level, msg string, args ...any) {
	ok, held := b.Take(now)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "lines_held_back", held)
	}
	log.Log(context.Background(), level, msg, args...)
}
