package tracker

import (
	"slices"
	"time"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// quietRead is the last full read that found exactly the published
// listeners. A Source hands out the same messages again while their
// sockets are unchanged (see Source), so a read of the same messages
// against the same listeners and shown set finds no change either: a
// comparison of pointers instead of a lookup per listener, which is most
// of what a periodic scan costs in user space.
type quietRead struct {
	set   Set                  // the listeners it matched
	read  []*wslfwdv1.Listener // what it read, copied
	shown uint64               // the shown set's generation then
}

// holds reports whether reading ls against set, with the shown set of
// generation shown, would find no change.
func (q *quietRead) holds(set Set, ls []*wslfwdv1.Listener, shown uint64) bool {
	return q.read != nil && q.set == set && q.shown == shown && slices.Equal(q.read, ls)
}

// record notes a read that found no change.
func (q *quietRead) record(set Set, ls []*wslfwdv1.Listener, shown uint64) {
	q.set, q.read, q.shown = set, append(q.read[:0], ls...), shown
}

// journaled reports whether a full read that started at start replays
// any event (see replay): its result then depends on more than the read.
// Callers hold scanMu.
func (t *Tracker) journaled(start time.Time) bool {
	return len(t.recent) > 0 && start.Sub(t.recent[len(t.recent)-1].at) <= journalWindow
}
