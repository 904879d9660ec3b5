//go:build linux

package ebpftrigger

import (
	"time"

	"github.com/wslfwd/wslfwd/agent-linux/trigger"
)

// rechecks holds early events (see event.early) until they are due to be
// handed over again: window after they arrived, when the kernel has
// certainly finished the change they announced. Events that would prompt
// the same re-read (same kind, protocol, family and port) are merged, the
// later due time winning. It is not safe for concurrent use.
type rechecks struct {
	window time.Duration
	items  []recheck
}

type recheck struct {
	ev  trigger.Event
	due time.Time
}

// add schedules ev, which arrived at now.
func (r *rechecks) add(ev trigger.Event, now time.Time) {
	due := now.Add(r.window)
	for i, it := range r.items {
		if it.ev.Kind == ev.Kind && it.ev.Protocol == ev.Protocol && it.ev.Family == ev.Family && it.ev.Port == ev.Port {
			r.items[i] = recheck{ev, due}
			return
		}
	}
	r.items = append(r.items, recheck{ev, due})
}

// next returns when the first item is due, or the zero time if none is
// waiting.
func (r *rechecks) next() time.Time {
	var first time.Time
	for _, it := range r.items {
		if first.IsZero() || it.due.Before(first) {
			first = it.due
		}
	}
	return first
}

// due appends the items due at now to dst and forgets them.
func (r *rechecks) due(now time.Time, dst []trigger.Event) []trigger.Event {
	keep := r.items[:0]
	for _, it := range r.items {
		if it.due.After(now) {
			keep = append(keep, it)
		} else {
			dst = append(dst, it.ev)
		}
	}
	clear(r.items[len(keep):])
	r.items = keep
	return dst
}
