package engine

import (
	"context"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Hooks for the external tests (package engine_test), which run the
// engine inside a whole daemon (daemontest).

// Watcher is one watch's queue.
type Watcher = watcher

// WaitRun waits until a run that began after the call has finished.
func (d *Engine) WaitRun(ctx context.Context) error { return d.waitRun(ctx) }

// Subscribe adds a watcher without the current state.
func (d *Engine) Subscribe() (*Watcher, error) {
	w, _, err := d.subscribe(false)
	return w, err
}

// Publish hands events to every watcher at once, as a run does.
func (d *Engine) Publish(evs ...*wslfwdv1.WatchResponse) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.publish(evs)
}

// Next takes what w has to send (see next).
func (d *Engine) Next(w *Watcher) ([]*wslfwdv1.WatchResponse, bool) { return d.next(w) }

// Queued is the size of w's queue, in bytes.
func (d *Engine) Queued(w *Watcher) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return w.bytes
}
