package session

import (
	"maps"
	"slices"
	"sync"

	"github.com/wslfwd/wslfwd/agent-linux/tracker"
	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/internal/statuskey"
)

// statusBook holds what the daemon said, on the current stream, of this
// agent's listeners. A daemon of protocol revision 2 speaks only of a
// listener it did not forward on its own port (and of one forwarded again
// after that); a listener it never spoke of is forwarded as asked. An
// older daemon speaks of every listener whose status changed.
//
// Silence proves nothing until the daemon has acted on the message that
// carried a listener, and a revision 2 daemon says what it acted on only
// when asked (want_reply) or when it has a status to tell. So a status
// request asks (Session.Report): the book keeps the state each asking
// message carried, and once the daemon acted on it, that state is
// confirmed: its listeners the daemon said nothing of are forwarded as
// asked. Nothing here runs per listener event unless someone asked.
type statusBook struct {
	mu        sync.Mutex
	statuses  map[statuskey.Key]*wslfwdv1.ListenerStatus
	acted     uint64 // highest seq the daemon said it acted on
	asks      []ask  // states sent with want_reply, not yet acted on
	confirmed *tracker.State
	waiters   []waiter
	// cut is the last state sent while the daemon's limit (max) cut it
	// down (stream.reported), nil while nothing was left out. It is kept
	// at every message only while that lasts.
	cut *tracker.State
	max uint32
}

// maxAsks bounds the asks and the waiters the book keeps. Each status
// request adds one of each, and a daemon that never replies would have
// them pile up for as long as the stream lasts. Past the bound the oldest
// give way: a later ask carries a newer state, which confirms more once
// acted on, and a waiter woken early finds nothing newly confirmed, as
// when its request times out. Status requests are few (one per
// `wslfwd-agent status`, at most a handful at once), so 16 never cuts
// one still in use.
const maxAsks = 16

// ask is a state sent in the message numbered seq, with want_reply.
type ask struct {
	seq   uint64
	state tracker.State
}

// waiter is a Report waiting for the daemon to act on seq; done is
// closed when it has, or when the stream ends.
type waiter struct {
	seq  uint64
	done chan struct{}
}

// reset forgets everything: a new stream, whose daemon session knows
// nothing of what the previous one said. Waiters of the old stream are
// woken; what they find is that nothing is confirmed.
func (b *statusBook) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses, b.acted, b.asks, b.confirmed, b.cut = nil, 0, nil, nil, nil
	for _, w := range b.waiters {
		close(w.done)
	}
	b.waiters = nil
}

// setCut keeps the state a message carried when the daemon's limit max
// cut it down; nil says the message left nothing out.
func (b *statusBook) setCut(cut *tracker.State, max uint32) {
	b.mu.Lock()
	b.cut, b.max = cut, max
	b.mu.Unlock()
}

// record keeps the statuses of an update, each replacing the last one of
// its listener, and the seq it says the daemon acted on. A daemon speaks
// only of listeners the agent sent (sent), but whoever holds the agent
// token may take its place, and may name listeners without end: past
// statusRoom(sent) the statuses of listeners not in sent are dropped, and
// a status that still finds no room is not kept. It returns how many
// statuses it dropped.
func (b *statusBook) record(up *wslfwdv1.ForwardStatusUpdate, sent tracker.Set) (dropped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.statuses == nil {
		b.statuses = make(map[statuskey.Key]*wslfwdv1.ListenerStatus)
	}
	room := statusRoom(sent)
	for _, st := range up.GetStatuses() {
		k := statuskey.Of(st)
		if _, ok := b.statuses[k]; !ok && len(b.statuses) >= room {
			dropped += b.keepOnly(sent)
			if len(b.statuses) >= room {
				dropped++
				continue
			}
		}
		b.statuses[k] = st
	}
	b.actedOn(up.GetSeq())
	return dropped
}

// statusRoom is how many statuses the book keeps while sent is what the
// daemon holds: twice as many, so that keepOnly, which costs a pass over
// sent, runs at most once per len(sent) statuses, and some more for
// statuses that cross a removal on the way.
func statusRoom(sent tracker.Set) int { return 2*sent.Len() + 64 }

// keepOnly drops the statuses of listeners not in sent and returns how
// many it dropped. Called with b.mu.
func (b *statusBook) keepOnly(sent tracker.Set) int {
	known := make(map[statuskey.Key]bool, sent.Len())
	for _, l := range sent.All() {
		known[statuskey.OfListener(l)] = true
	}
	n := len(b.statuses)
	maps.DeleteFunc(b.statuses, func(k statuskey.Key, _ *wslfwdv1.ListenerStatus) bool { return !known[k] })
	return n - len(b.statuses)
}

// ack records the Ack of a daemon before revision 2.
func (b *statusBook) ack(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.actedOn(seq)
}

// actedOn moves acted up to seq, confirms the latest state asked about at
// or below it and wakes who waited for it. Called with b.mu.
func (b *statusBook) actedOn(seq uint64) {
	b.acted = max(b.acted, seq)
	n := 0
	for _, a := range b.asks {
		if a.seq > b.acted {
			break
		}
		b.confirmed = &a.state
		n++
	}
	b.asks = b.asks[n:]
	b.waiters = slices.DeleteFunc(b.waiters, func(w waiter) bool {
		if w.seq <= b.acted {
			close(w.done)
			return true
		}
		return false
	})
}

// asked notes that the message numbered seq carried state and asked for a
// reply, and returns a channel closed once the daemon acted on it.
func (b *statusBook) asked(seq uint64, state tracker.State) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := waiter{seq: seq, done: make(chan struct{})}
	if len(b.asks) >= maxAsks {
		b.asks = slices.Delete(b.asks, 0, 1)
	}
	b.asks = append(b.asks, ask{seq, state})
	if len(b.waiters) >= maxAsks {
		close(b.waiters[0].done)
		b.waiters = slices.Delete(b.waiters, 0, 1)
	}
	b.waiters = append(b.waiters, w)
	b.actedOn(b.acted) // an old daemon's Ack may have come first
	return w.done
}

// forget drops the statuses of listeners that went away.
func (b *statusBook) forget(removed []*wslfwdv1.Listener) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range removed {
		delete(b.statuses, statuskey.OfListener(l))
	}
}
