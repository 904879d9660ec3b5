// Package reconcile drives the backend towards the wanted forwards with the
// fewest changes, touching only entries the ownership ledger says wslfwd
// made.
//
// One Reconcile:
//
//  1. Lists the backend: the truth. An entry is wslfwd's if an identical
//     entry (protocol, listen, connect) is in the ledger; every other entry
//     is foreign and is never changed or removed.
//  2. Plans: a wanted entry that exists and is owned is left alone; an owned
//     entry at a wanted key with another target is replaced; an owned entry
//     not wanted is removed; a wanted key held by a foreign entry is a
//     CONFLICT. Ledger entries missing from the backend are forgotten.
//     After a restart this adopts what still exists and clears the rest.
//  3. Records intent: before adding, the ledger gets the owned entries plus
//     the additions, so a crash mid-apply never leaves an entry wslfwd made
//     but does not know it owns. If that write fails nothing is applied:
//     existing forwards stay, the additions are reported as ERROR with the
//     state directory problem. Only a durable backend's ledger is written
//     to disk (ledger.For); a ledger in memory cannot fail, so the relay's
//     forwards never wait for or depend on the state directory.
//  4. Applies all changes in one batch, then records the truth: what the
//     backend confirmed (or, when the batch failed as a whole, what a new
//     listing shows).
//
// Failed additions map to states: ErrPortInUse is CONFLICT, ErrExcludedPort
// BLOCKED, anything else ERROR.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
)

// Reconciler owns the backend's changes. Reconcile calls are serialized.
type Reconciler struct {
	b   backend.Backend
	l   *ledger.Ledger
	log *slog.Logger

	mu sync.Mutex
}

// Outcome is what became of one wanted entry.
type Outcome struct {
	// State is ACTIVE, ERROR, CONFLICT or BLOCKED.
	State  wslfwdv1.ForwardState
	Reason string // empty for ACTIVE
}

// Report is the result of one Reconcile.
type Report struct {
	// Outcomes has one outcome per wanted key.
	Outcomes map[backend.Key]Outcome
	// Owned are the entries wslfwd owns after the run; Foreign the
	// backend's other entries.
	Owned, Foreign []backend.Entry
	// Err is a problem of the run as a whole (backend unreadable, ledger
	// unwritable); outcomes say what it meant for each entry.
	Err error
}

// New returns a Reconciler; log may be nil.
func New(b backend.Backend, l *ledger.Ledger, log *slog.Logger) *Reconciler {
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{b: b, l: l, log: log}
}

var active = Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE}

// Reconcile makes the backend hold want. want should hold at most one
// entry per key (the policy guarantees it); exact duplicates are merged,
// and of two different entries for one key the first is used.
func (r *Reconciler) Reconcile(ctx context.Context, want []backend.Entry) Report {
	r.mu.Lock()
	defer r.mu.Unlock()

	wants := r.uniqueWants(want)
	rep := Report{Outcomes: make(map[backend.Key]Outcome, len(wants))}

	actual, err := r.b.List(ctx)
	if err != nil {
		rep.Err = fmt.Errorf("list %s entries: %w", r.b.Name(), err)
		for _, w := range wants {
			rep.Outcomes[w.Key()] = errorOutcome("cannot read the backend's entries: " + err.Error())
		}
		rep.Owned = r.l.Entries()
		return rep
	}
	ledgered := set(r.l.Entries())
	byKey := make(map[backend.Key]backend.Entry, len(actual))
	var owned []backend.Entry
	for _, e := range actual {
		byKey[e.Key()] = e
		if ledgered[e] {
			owned = append(owned, e)
		} else {
			rep.Foreign = append(rep.Foreign, e)
		}
	}
	isOwned := set(owned)

	// Plan.
	var batch backend.Batch
	wantKeys := make(map[backend.Key]bool, len(wants))
	for _, w := range wants {
		k := w.Key()
		wantKeys[k] = true
		a, exists := byKey[k]
		switch {
		case !exists:
			batch.Add = append(batch.Add, w)
		case !isOwned[a]:
			rep.Outcomes[k] = Outcome{wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT,
				fmt.Sprintf("held by an entry wslfwd does not own (%s)", a)}
		case a == w:
			rep.Outcomes[k] = active
		default:
			batch.Remove = append(batch.Remove, a)
			batch.Add = append(batch.Add, w)
		}
	}
	for _, e := range owned {
		if !wantKeys[e.Key()] {
			batch.Remove = append(batch.Remove, e)
		}
	}
	slices.SortFunc(batch.Remove, ledger.Compare)
	slices.SortFunc(batch.Add, ledger.Compare)

	if batch.Empty() {
		// Forget ledger entries the backend no longer has.
		if err := r.l.Replace(owned); err != nil {
			rep.Err = fmt.Errorf("state directory: %w", err)
		}
		rep.Owned = r.l.Entries()
		sortEntries(rep.Foreign)
		return rep
	}

	// Record intent before adding.
	if len(batch.Add) > 0 {
		if err := r.l.Replace(append(slices.Clone(owned), batch.Add...)); err != nil {
			rep.Err = fmt.Errorf("state directory: %w", err)
			for _, w := range batch.Add {
				rep.Outcomes[w.Key()] = errorOutcome("not added: cannot record ownership in the state directory: " + err.Error())
			}
			rep.Owned = owned
			sortEntries(rep.Owned)
			sortEntries(rep.Foreign)
			r.log.Error("not changing forwards: the ledger cannot be written", "err", err)
			return rep
		}
	}

	truth := r.apply(ctx, batch, owned, &rep)
	if err := r.l.Replace(truth); err != nil {
		rep.Err = errors.Join(rep.Err, fmt.Errorf("state directory: %w", err))
	}
	rep.Owned = truth
	sortEntries(rep.Owned)
	sortEntries(rep.Foreign)
	return rep
}

// apply runs the batch and returns the entries owned afterwards, setting
// the outcome of every addition.
func (r *Reconciler) apply(ctx context.Context, batch backend.Batch, owned []backend.Entry, rep *Report) []backend.Entry {
	r.log.Debug("applying", "backend", r.b.Name(), "remove", len(batch.Remove), "add", len(batch.Add))
	err := r.b.Apply(ctx, batch)
	var ae *backend.ApplyError
	if err != nil && !errors.As(err, &ae) {
		return r.afterBatchFailure(ctx, batch, owned, err, rep)
	}
	removed := map[backend.Entry]bool{}
	for _, e := range batch.Remove {
		if f, failed := failure(ae, e, true); failed {
			r.log.Warn("remove forward", "entry", e.String(), "err", f.Err)
			continue
		}
		removed[e] = true
		r.log.Info("forward removed", "entry", e.String())
	}
	var truth []backend.Entry
	for _, e := range owned {
		if !removed[e] {
			truth = append(truth, e)
		}
	}
	for _, w := range batch.Add {
		if f, failed := failure(ae, w, false); failed {
			rep.Outcomes[w.Key()] = classify(f.Err)
			r.log.Warn("add forward", "entry", w.String(), "err", f.Err)
			continue
		}
		truth = append(truth, w)
		rep.Outcomes[w.Key()] = active
		r.log.Info("forward added", "entry", w.String())
	}
	return truth
}

// afterBatchFailure finds out what a batch that failed as a whole left
// behind by listing again. If even that fails, it keeps claiming every
// entry it may have made: a superset is safe, entries missing from the
// backend are forgotten on a later run.
func (r *Reconciler) afterBatchFailure(ctx context.Context, batch backend.Batch, owned []backend.Entry, applyErr error, rep *Report) []backend.Entry {
	rep.Err = fmt.Errorf("apply to %s: %w", r.b.Name(), applyErr)
	r.log.Warn("apply failed", "backend", r.b.Name(), "err", applyErr)
	claimed := set(append(slices.Clone(owned), batch.Add...))
	now, err := r.b.List(ctx)
	if err != nil {
		for _, w := range batch.Add {
			rep.Outcomes[w.Key()] = errorOutcome(applyErr.Error())
		}
		return slices.Collect(maps.Keys(claimed))
	}
	present := set(now)
	var truth []backend.Entry
	for e := range claimed {
		if present[e] {
			truth = append(truth, e)
		}
	}
	for _, w := range batch.Add {
		if present[w] {
			rep.Outcomes[w.Key()] = active
		} else {
			rep.Outcomes[w.Key()] = errorOutcome(applyErr.Error())
		}
	}
	return truth
}

func (r *Reconciler) uniqueWants(want []backend.Entry) []backend.Entry {
	seen := make(map[backend.Key]backend.Entry, len(want))
	out := make([]backend.Entry, 0, len(want))
	for _, w := range want {
		if prev, dup := seen[w.Key()]; dup {
			if prev != w {
				r.log.Warn("two targets wanted for one key; keeping the first", "kept", prev.String(), "dropped", w.String())
			}
			continue
		}
		seen[w.Key()] = w
		out = append(out, w)
	}
	return out
}

// failure finds the failure of one change of the batch, if any.
func failure(ae *backend.ApplyError, e backend.Entry, remove bool) (backend.Failure, bool) {
	if ae == nil {
		return backend.Failure{}, false
	}
	return ae.FailureFor(e.Key(), remove)
}

// classify turns a failed addition into an outcome.
func classify(err error) Outcome {
	switch {
	case errors.Is(err, backend.ErrPortInUse):
		return Outcome{wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT, err.Error()}
	case errors.Is(err, backend.ErrExcludedPort):
		return Outcome{wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, err.Error()}
	}
	return errorOutcome(err.Error())
}

func errorOutcome(reason string) Outcome {
	return Outcome{wslfwdv1.ForwardState_FORWARD_STATE_ERROR, reason}
}

func set(es []backend.Entry) map[backend.Entry]bool {
	m := make(map[backend.Entry]bool, len(es))
	for _, e := range es {
		m[e] = true
	}
	return m
}

func sortEntries(es []backend.Entry) { slices.SortFunc(es, ledger.Compare) }
