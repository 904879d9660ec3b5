package daemontest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// Backend keeps entries in memory and records removals and additions, so
// tests can tell a forward that stayed up from one that was taken down
// and made again.
type Backend struct {
	mu      sync.Mutex
	entries map[backend.Key]backend.Entry
	removed []backend.Entry
	added   []backend.Entry
	failAdd error // when set, every addition fails with it
	durable bool  // see Durable
	// broken, when set, is why no entry carries connections (Verify),
	// as with portproxy while iphlpsvc is stopped.
	broken error
	// gate, when set, is waited on by every Apply before it starts: a
	// test holds the engine inside a step until it closes it.
	gate chan struct{}
}

// NewBackend returns an empty Backend.
func NewBackend() *Backend {
	return &Backend{entries: make(map[backend.Key]backend.Entry)}
}

// SetFailAdd makes every addition fail with err; nil mends it.
func (b *Backend) SetFailAdd(err error) {
	b.mu.Lock()
	b.failAdd = err
	b.mu.Unlock()
}

// Hold makes every Apply wait until the returned func is called: the
// engine stays inside its step meanwhile, as behind a slow netsh.
func (b *Backend) Hold() (release func()) {
	g := make(chan struct{})
	b.mu.Lock()
	b.gate = g
	b.mu.Unlock()
	return sync.OnceFunc(func() {
		b.mu.Lock()
		b.gate = nil
		b.mu.Unlock()
		close(g)
	})
}

// SetBroken makes Verify find every entry broken with err; nil mends it.
func (b *Backend) SetBroken(err error) {
	b.mu.Lock()
	b.broken = err
	b.mu.Unlock()
}

// SetDurable makes the backend durable (see Durable).
func (b *Backend) SetDurable(durable bool) {
	b.mu.Lock()
	b.durable = durable
	b.mu.Unlock()
}

// Verify finds every entry broken while SetBroken's error is set.
func (b *Backend) Verify(_ context.Context, es []backend.Entry) map[backend.Entry]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[backend.Entry]error)
	for _, e := range es {
		if b.broken != nil {
			out[e] = b.broken
		}
	}
	return out
}

func (b *Backend) Name() string                   { return "fake" }
func (b *Backend) Supports(backend.Protocol) bool { return true }
func (b *Backend) Close() error                   { return nil }

// Durable is false unless set: like the relay's, a Backend's entries end
// with it (a restarted daemon gets a new, empty one). A durable one stands
// in for portproxy: a restarted daemon is given the same one, with its
// entries, and its ledger is on disk.
func (b *Backend) Durable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.durable
}

func (b *Backend) List(context.Context) ([]backend.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Collect(maps.Values(b.entries)), nil
}

func (b *Backend) Apply(_ context.Context, batch backend.Batch) error {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var fails []backend.Failure
	for _, e := range batch.Remove {
		if cur, ok := b.entries[e.Key()]; ok && cur == e {
			delete(b.entries, e.Key())
			b.removed = append(b.removed, e)
		}
	}
	for _, e := range batch.Add {
		if b.failAdd != nil {
			fails = append(fails, backend.Failure{Entry: e, Err: b.failAdd})
			continue
		}
		if cur, ok := b.entries[e.Key()]; ok {
			err := backend.ErrPortInUse
			if cur == e {
				err = backend.ErrExists
			}
			fails = append(fails, backend.Failure{Entry: e, Err: err})
			continue
		}
		b.added = append(b.added, e)
		b.entries[e.Key()] = e
	}
	if fails != nil {
		return &backend.ApplyError{Failures: fails}
	}
	return nil
}

// Changes returns every removal and addition so far.
func (b *Backend) Changes() (removed, added []backend.Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.removed), slices.Clone(b.added)
}

// Entries returns the entries held now.
func (b *Backend) Entries() map[backend.Key]backend.Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.entries)
}
