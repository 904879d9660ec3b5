package engine

import (
	"context"
	"fmt"
	"maps"

	"google.golang.org/protobuf/proto"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/firewall"
	"github.com/wslfwd/wslfwd/internal/statuskey"
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

// Step makes one step of an engine that is not running; full makes it
// decide everything, as a retry does.
func (d *Engine) Step(ctx context.Context, full bool) {
	d.retryDue.Store(full)
	d.step(ctx)
}

// Kept is what the steps so far left: the table, one line per row
// without times, and the counts kept beside it (table.go). Two engines
// fed the same input compare theirs.
type Kept struct {
	Table   map[string]string
	Failing int
	Rules   map[firewall.Rule]int
}

// Kept returns what the steps so far left.
func (d *Engine) Kept() Kept {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := Kept{Table: make(map[string]string), Failing: d.index.failing, Rules: maps.Clone(d.index.rules)}
	for key, r := range d.table {
		f := proto.CloneOf(r.fwd)
		f.Since = nil
		k.Table[fmt.Sprint(key)] = fmt.Sprintf("%v wanted=%v exists=%v held=%v group=%d", f, r.wanted, r.exists, r.held, r.group)
	}
	return k
}

// Told is what the engine holds it last told session id of its listeners.
func (d *Engine) Told(id string) map[statuskey.Key]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[statuskey.Key]string)
	for k, st := range d.sent[id] {
		out[k] = st.String()
	}
	return out
}
