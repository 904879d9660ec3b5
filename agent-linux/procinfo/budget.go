//go:build linux

package procinfo

import "time"

// budget paces walks as a token bucket of walking time: it holds up to
// walkBurst, fills by 1/walkShare of the time that passes, and a walk may
// start while it holds minSlice, spending what the walk took, which stops
// once it has spent what the budget held (walk). The zero value is full.
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

// minSlice is the least walking time a walk starts with: a walk goes on
// with a search where the last one stopped, and slices too thin would
// wake the agent often for little.
const minSlice = walkBurst / 5

// allows reports whether a walk may start at now.
func (b *budget) allows(now time.Time) bool {
	b.fill(now)
	return b.spent <= walkBurst-minSlice
}

// spend records a walk that ran from start to end.
func (b *budget) spend(start, end time.Time) {
	b.fill(end)
	b.spent += max(0, end.Sub(start))
}

// left returns the walking time the budget holds, as of its last fill:
// at least minSlice when it allows a walk.
func (b *budget) left() time.Duration { return max(0, walkBurst-b.spent) }

// next returns when a walk may start.
func (b *budget) next() time.Time {
	over := b.spent - (walkBurst - minSlice)
	if over <= 0 {
		return b.at
	}
	return b.at.Add(over * walkShare)
}
