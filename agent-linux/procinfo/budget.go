//go:build linux

package procinfo

import "time"

// budget paces walks as a token bucket of walking time: it holds up to
// walkBurst, fills by 1/walkShare of the time that passes, and a walk
// may start while it holds any, spending what the walk took. A walk
// longer than what was left runs the budget into debt, which the time
// that follows pays off. The zero value is full.
type budget struct {
	spent time.Duration // below full; past walkBurst is debt
	at    time.Time     // when spent was last brought up to date
}

// fill brings spent up to now.
func (b *budget) fill(now time.Time) {
	if !b.at.IsZero() && now.After(b.at) {
		b.spent = max(0, b.spent-now.Sub(b.at)/walkShare)
	}
	if now.After(b.at) {
		b.at = now
	}
}

// allows reports whether a walk may start at now.
func (b *budget) allows(now time.Time) bool {
	b.fill(now)
	return b.spent < walkBurst
}

// spend records a walk that ran from start to end.
func (b *budget) spend(start, end time.Time) {
	b.fill(end)
	b.spent += max(0, end.Sub(start))
}

// next returns when a walk may start.
func (b *budget) next() time.Time {
	if b.spent < walkBurst {
		return b.at
	}
	return b.at.Add((b.spent - walkBurst + 1) * walkShare)
}
