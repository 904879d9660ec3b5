package engine

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Watch limits; SECURITY.md lists them.
const (
	// MaxWatchers bounds the Watch streams open at once: a read token is
	// enough to open one, and each may hold a buffer. People and tools
	// that watch are few; past it, Watch is ResourceExhausted.
	MaxWatchers = 32
	// WatcherBufferBytes bounds the events queued for one watcher (their
	// encoded size). A watcher that falls further behind loses its queue
	// and gets a resync instead: a marker, then the current state. 512
	// KiB holds some 2,000 events, more than a burst of 1,000 forwards.
	WatcherBufferBytes = 512 << 10
)

// watcher is one Watch stream's queue. Guarded by Engine.mu.
type watcher struct {
	queue  []*wslfwdv1.WatchResponse
	bytes  int
	resync bool          // queue dropped: the next send is a resync
	closed bool          // the daemon is stopping
	wake   chan struct{} // size 1: something to send
}

func newWatcher() *watcher { return &watcher{wake: make(chan struct{}, 1)} }

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// offer queues events, or drops the queue for a resync once it would
// pass WatcherBufferBytes. Called with d.mu.
func (w *watcher) offer(evs []*wslfwdv1.WatchResponse) {
	if w.resync || len(evs) == 0 {
		return
	}
	for _, e := range evs {
		w.bytes += proto.Size(e)
	}
	w.queue = append(w.queue, evs...)
	if w.bytes > WatcherBufferBytes {
		w.dropQueue()
		return
	}
	w.signal()
}

// dropQueue drops what w has queued: its next send is a resync marker and
// the current state. Called with d.mu.
func (w *watcher) dropQueue() {
	w.queue, w.bytes, w.resync = nil, 0, true
	w.signal()
}

// resyncWatchers drops every watcher's queue for a resync: events were
// lost before they reached the engine (the agents registry's bound), so
// no queue tells the whole story. Called with d.mu.
func (d *Engine) resyncWatchers() {
	for w := range d.watchers {
		w.dropQueue()
	}
}

// publish hands events to every watcher. Called with d.mu.
func (d *Engine) publish(evs []*wslfwdv1.WatchResponse) {
	for w := range d.watchers {
		w.offer(evs)
	}
}

func (d *Engine) closeWatchers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.watchers {
		w.closed = true
		w.signal()
		delete(d.watchers, w)
	}
}

// state is the current agents (CONNECTED, or DISCONNECTED for those in
// grace) and forwards (ADDED for active ones, FAILED for errors, CHANGED
// otherwise) as events. Called with d.mu.
func (d *Engine) state() []*wslfwdv1.WatchResponse {
	var evs []*wslfwdv1.WatchResponse
	now := time.Now()
	for _, a := range d.agents {
		kind := wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_CONNECTED
		if !a.GetConnected() {
			kind = wslfwdv1.AgentEventKind_AGENT_EVENT_KIND_DISCONNECTED
		}
		evs = append(evs, &wslfwdv1.WatchResponse{Time: ts(now), Event: &wslfwdv1.WatchResponse_Agent{
			Agent: &wslfwdv1.AgentEvent{Kind: kind, Agent: a},
		}})
	}
	return append(evs, diff(nil, d.table, now)...)
}

// subscribe adds a watcher, with the current state when initial is set,
// taken atomically with the subscription so no change is lost between.
func (d *Engine) subscribe(initial bool) (*watcher, []*wslfwdv1.WatchResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.watchers) >= MaxWatchers {
		return nil, nil, errorf(ErrLimit, "%d watch streams are open, the limit; close one and retry", MaxWatchers)
	}
	w := newWatcher()
	d.watchers[w] = struct{}{}
	var first []*wslfwdv1.WatchResponse
	if initial {
		first = d.state()
	}
	return w, first, nil
}

// next takes what w has to send: its queue, or after it fell behind a
// resync marker and the current state. ok is false once the daemon stops.
func (d *Engine) next(w *watcher) (evs []*wslfwdv1.WatchResponse, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.closed {
		return nil, false
	}
	if w.resync {
		w.resync = false
		marker := &wslfwdv1.WatchResponse{Time: ts(time.Now()), Event: &wslfwdv1.WatchResponse_Resync{Resync: &wslfwdv1.WatchResync{}}}
		return append([]*wslfwdv1.WatchResponse{marker}, d.state()...), true
	}
	evs, w.queue, w.bytes = w.queue, nil, 0
	return evs, true
}

// Watch streams agent and forward events to send until ctx ends (nil) or
// the engine stops (ErrUnavailable); an error of send ends it with that
// error. send is called first once the subscription is in place, with the
// current agents and forwards when initial is set (see state) and with no
// events otherwise: a caller that answers its client then lets the client
// know that later changes will reach it. A reader that falls behind by
// more than WatcherBufferBytes gets a resync rather than every event.
func (d *Engine) Watch(ctx context.Context, initial bool, send func([]*wslfwdv1.WatchResponse) error) error {
	w, first, err := d.subscribe(initial)
	if err != nil {
		return err
	}
	defer d.unsubscribe(w)
	for evs, ok := first, true; ok; evs, ok = d.next(w) {
		if err := send(evs); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errorf(ErrUnavailable, "watch ended: the daemon is stopping; watch again")
}

func (d *Engine) unsubscribe(w *watcher) {
	d.mu.Lock()
	delete(d.watchers, w)
	d.mu.Unlock()
}
