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
//     neither wanted nor held (Plan.Hold) is removed; a wanted key held by
//     a foreign entry is a CONFLICT. Ledger entries missing from the
//     backend are forgotten. After a restart this adopts what still exists:
//     the daemon holds it while agents reconnect, and what nobody wants
//     once the holds end is cleared.
//  3. Records intent: before adding, the ledger gets the owned entries plus
//     the additions, each with the distro it forwards to, so a crash mid-apply never leaves an entry wslfwd made
//     but does not know it owns. If that write fails nothing is applied:
//     existing forwards stay, the additions are reported as ERROR with the
//     state directory problem. Only a durable backend's ledger is written
//     to disk (ledger.For); a ledger in memory cannot fail, so the relay's
//     forwards never wait for or depend on the state directory.
//  4. Applies all changes in one batch, then records the truth: what the
//     backend confirmed (or, when the batch failed as a whole, what a new
//     listing shows).
//
// Failed additions map to states: ErrPortInUse and ErrExists (the entry
// was made since the backend was last listed, by someone else) are
// CONFLICT, ErrExcludedPort BLOCKED, anything else ERROR.
//
// A run may be incremental (Plan.Keys): it then looks only at the keys a
// change touched and trusts what earlier runs learned of the backend
// instead of listing it, so one more forward costs the same with 1,000
// open as with none. The backend still judges every addition (a foreign
// entry at the key is a CONFLICT); what changed behind wslfwd's back at
// other keys is found by the next full run, which the engine makes on
// every retry and whenever anything but an agent's listeners changed.
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

	mu    sync.Mutex
	known *view // the backend after the last run; nil: list it
	// hidden are the entries wslfwd owns that the last listing left out
	// because values it cannot read sit at their keys (backend.Obscurer):
	// the ledger keeps them.
	hidden []backend.Entry
}

// Outcome is what became of one wanted entry.
type Outcome struct {
	// State is ACTIVE, ERROR, CONFLICT or BLOCKED.
	State  wslfwdv1.ForwardState
	Reason string // empty for ACTIVE
	// Exists is true when the backend holds the entry: for ACTIVE, and for
	// an ERROR of an entry that exists but carries nothing (a
	// backend.Verifier said why), which works again once the cause is
	// gone without being made anew.
	Exists bool
}

// Report is the result of one Reconcile.
type Report struct {
	// Outcomes has one outcome per wanted key.
	Outcomes map[backend.Key]Outcome
	// Owned are the entries wslfwd owns after a full run; Foreign the
	// backend's other entries. An incremental run leaves both nil.
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

// Owned returns the entries the ledger says wslfwd owns, with their
// distros: after a restart, what the daemon adopts and holds.
func (r *Reconciler) Owned() []ledger.Record { return r.l.Records() }

var active = Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Exists: true}

// Plan is what one Reconcile is asked to bring about.
type Plan struct {
	// Want are the entries that should exist, each with the distro it
	// forwards to, which the ledger records. It should hold at most one
	// entry per key (the policy guarantees it); exact duplicates are
	// merged, and of two different entries for one key the first is used.
	Want []ledger.Record
	// Hold are entries wslfwd owns that stay as they stand though nothing
	// wants them now: after a restart, the forwards of distros whose
	// agents have not reconnected yet (package daemon). A held entry that
	// exists and is wslfwd's is kept and gets an outcome; one that is gone
	// is not added again. A wanted key overrides a hold on it.
	Hold []backend.Entry
	// Keys, when set, makes the run incremental: it compares and changes
	// only these keys (Want and Hold outside them are ignored), leaves the
	// entries at other keys as they are, and does not list the backend
	// but trusts what earlier runs left. A full run (Keys nil) lists the
	// backend afresh and removes every owned entry neither wanted nor
	// held.
	Keys map[backend.Key]bool
}

// view is the backend as far as wslfwd knows it: its entries by key, and
// which of them are wslfwd's.
type view struct {
	byKey   map[backend.Key]backend.Entry
	isOwned map[backend.Entry]bool
}

// applied updates v with the changes a batch made.
func (v *view) applied(removed, added []backend.Entry) {
	for _, e := range removed {
		if v.byKey[e.Key()] == e {
			delete(v.byKey, e.Key())
		}
		delete(v.isOwned, e)
	}
	for _, e := range added {
		v.byKey[e.Key()] = e
		v.isOwned[e] = true
	}
}

// survey is the backend's listing sorted by ownership.
type survey struct {
	view
	owned   []backend.Entry
	foreign []backend.Entry
}

// Reconcile makes the backend hold p.Want, keeps what p.Hold names, and
// removes every other entry wslfwd owns. An entry the backend's Verifier
// finds not working is ERROR, not ACTIVE.
func (r *Reconciler) Reconcile(ctx context.Context, p Plan) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rep Report
	if p.Keys != nil {
		p = p.within()
		rep = r.reconcileKeys(ctx, p)
	} else {
		rep = r.reconcile(ctx, p)
	}
	r.verify(ctx, p, &rep)
	return rep
}

// within drops the wants and holds outside p.Keys.
func (p Plan) within() Plan {
	in := Plan{Keys: p.Keys}
	for _, w := range p.Want {
		if p.Keys[w.Entry.Key()] {
			in.Want = append(in.Want, w)
		}
	}
	for _, h := range p.Hold {
		if p.Keys[h.Key()] {
			in.Hold = append(in.Hold, h)
		}
	}
	return in
}

// verify asks a backend that can tell whether each wanted or held entry
// reported ACTIVE carries connections.
func (r *Reconciler) verify(ctx context.Context, p Plan, rep *Report) {
	v, ok := r.b.(backend.Verifier)
	if !ok {
		return
	}
	var check []backend.Entry
	seen := make(map[backend.Key]bool)
	consider := func(e backend.Entry) {
		if !seen[e.Key()] && rep.Outcomes[e.Key()].State == wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE {
			seen[e.Key()] = true
			check = append(check, e)
		}
	}
	for _, w := range p.Want {
		consider(w.Entry)
	}
	for _, h := range p.Hold {
		consider(h)
	}
	if len(check) == 0 {
		return
	}
	for e, err := range v.Verify(ctx, check) {
		rep.Outcomes[e.Key()] = Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_ERROR, Reason: err.Error(), Exists: true}
	}
}

func (r *Reconciler) reconcile(ctx context.Context, p Plan) Report {
	wants := r.uniqueWants(p.Want)
	rep := Report{Outcomes: make(map[backend.Key]Outcome, len(wants)+len(p.Hold))}
	r.known = nil
	sv, ok := r.list(ctx, wants, p.Hold, &rep)
	if !ok {
		rep.Owned = r.l.Entries()
		return rep
	}
	rep.Foreign = sv.foreign
	sortEntries(rep.Foreign)
	batch := planBatch(wants, p.Hold, sv.owned, sv.view, &rep)
	distros := r.distros(wants)

	if batch.Empty() {
		// Forget ledger entries the backend no longer has.
		if err := r.record(sv.owned, distros); err != nil {
			rep.Err = fmt.Errorf("state directory: %w", err)
		}
		rep.Owned = r.l.Entries()
		r.known = &sv.view
		return rep
	}

	// Record intent before adding.
	if len(batch.Add) > 0 {
		intent := append(slices.Clone(sv.owned), batch.Add...)
		if err := r.record(intent, distros); err != nil {
			r.refuseAdditions(batch.Add, err, &rep)
			rep.Owned = slices.Clone(sv.owned)
			sortEntries(rep.Owned)
			r.known = &sv.view
			return rep
		}
	}

	truth := r.applyBatch(ctx, batch, sv.owned, &sv.view, &rep)
	if err := r.record(truth, distros); err != nil {
		rep.Err = errors.Join(rep.Err, fmt.Errorf("state directory: %w", err))
	}
	rep.Owned = truth
	sortEntries(rep.Owned)
	return rep
}

// reconcileKeys is an incremental run (Plan.Keys): the same plan as a
// full run's, made from what wslfwd knows of the backend at the keys.
func (r *Reconciler) reconcileKeys(ctx context.Context, p Plan) Report {
	wants := r.uniqueWants(p.Want)
	rep := Report{Outcomes: make(map[backend.Key]Outcome, len(wants)+len(p.Hold))}
	if r.known == nil {
		sv, ok := r.list(ctx, wants, p.Hold, &rep)
		if !ok {
			return rep
		}
		r.known = &sv.view
	}
	v := r.known
	var owned []backend.Entry
	for k := range p.Keys {
		if e, ok := v.byKey[k]; ok && v.isOwned[e] {
			owned = append(owned, e)
		}
	}
	batch := planBatch(wants, p.Hold, owned, *v, &rep)
	// Record intent before adding, and the distro of every want kept;
	// recording what is recorded already writes nothing.
	if err := r.l.Update(recorded(wants, batch.Add, *v), nil); err != nil {
		r.refuseAdditions(batch.Add, err, &rep)
		return rep
	}
	if batch.Empty() {
		return rep
	}
	removed, added, outdated, err := r.apply(ctx, batch, &rep)
	if err != nil {
		r.known = nil
		truth := r.afterBatchFailure(ctx, batch, slices.Collect(maps.Keys(v.isOwned)), err, &rep)
		if err := r.record(truth, r.distros(wants)); err != nil {
			rep.Err = errors.Join(rep.Err, fmt.Errorf("state directory: %w", err))
		}
		return rep
	}
	v.applied(removed, added)
	if outdated {
		r.known = nil
	}
	if err := r.l.Update(nil, append(removed, r.unhidden(failed(batch.Add, added))...)); err != nil {
		rep.Err = fmt.Errorf("state directory: %w", err)
	}
	return rep
}

// recorded are the wants the ledger should record before a batch: those
// it adds, and those that exist and are wslfwd's.
func recorded(wants []ledger.Record, add []backend.Entry, v view) []ledger.Record {
	adding := set(add)
	var out []ledger.Record
	for _, w := range wants {
		if adding[w.Entry] || v.isOwned[w.Entry] && v.byKey[w.Entry.Key()] == w.Entry {
			out = append(out, w)
		}
	}
	return out
}

// list reads the backend into a survey. When it cannot, it reports every
// wanted and held key as an error and returns false.
func (r *Reconciler) list(ctx context.Context, wants []ledger.Record, hold []backend.Entry, rep *Report) (survey, bool) {
	var actual []backend.Entry
	var obscured []backend.Key
	var err error
	if o, ok := r.b.(backend.Obscurer); ok {
		actual, obscured, err = o.ListObscured(ctx)
	} else {
		actual, err = r.b.List(ctx)
	}
	if err == nil {
		sv := r.survey(actual)
		r.hidden = r.hiddenAt(obscured, sv.byKey)
		return sv, true
	}
	rep.Err = fmt.Errorf("list %s entries: %w", r.b.Name(), err)
	bad := errorOutcome("cannot read the backend's entries: " + err.Error())
	for _, w := range wants {
		rep.Outcomes[w.Entry.Key()] = bad
	}
	for _, h := range hold {
		if _, wanted := rep.Outcomes[h.Key()]; !wanted {
			rep.Outcomes[h.Key()] = bad
		}
	}
	return survey{}, false
}

// hiddenAt returns the ledger's entries that the listing (byKey) does not
// show and whose keys values the backend cannot read sit at.
func (r *Reconciler) hiddenAt(obscured []backend.Key, byKey map[backend.Key]backend.Entry) []backend.Entry {
	at := make(map[backend.Key]bool, len(obscured))
	for _, k := range obscured {
		at[k] = true
	}
	var out []backend.Entry
	for _, e := range r.l.Entries() {
		if at[e.Key()] && byKey[e.Key()] != e {
			out = append(out, e)
		}
	}
	return out
}

// survey splits the backend's listing into what wslfwd owns (an identical
// entry is in the ledger) and what is foreign.
func (r *Reconciler) survey(actual []backend.Entry) survey {
	ledgered := set(r.l.Entries())
	sv := survey{view: view{byKey: make(map[backend.Key]backend.Entry, len(actual))}}
	for _, e := range actual {
		sv.byKey[e.Key()] = e
		if ledgered[e] {
			sv.owned = append(sv.owned, e)
		} else {
			sv.foreign = append(sv.foreign, e)
		}
	}
	sv.isOwned = set(sv.owned)
	return sv
}

// planBatch decides the changes: add what is wanted and missing, replace
// an owned entry at a wanted key with another target, remove the entries
// of owned that are neither wanted nor held. It sets the outcome of every
// wanted key that needs no change and of every held entry kept.
func planBatch(wants []ledger.Record, hold, owned []backend.Entry, v view, rep *Report) backend.Batch {
	var batch backend.Batch
	wantKeys := make(map[backend.Key]bool, len(wants))
	for _, wr := range wants {
		w, k := wr.Entry, wr.Entry.Key()
		wantKeys[k] = true
		a, exists := v.byKey[k]
		switch {
		case !exists:
			batch.Add = append(batch.Add, w)
		case !v.isOwned[a]:
			rep.Outcomes[k] = Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT,
				Reason: fmt.Sprintf("held by an entry wslfwd does not own (%s)", a)}
		case a == w:
			rep.Outcomes[k] = active
		default:
			batch.Remove = append(batch.Remove, a)
			batch.Add = append(batch.Add, w)
		}
	}
	held := make(map[backend.Entry]bool, len(hold))
	for _, h := range hold {
		if !wantKeys[h.Key()] && v.isOwned[h] {
			held[h] = true
			rep.Outcomes[h.Key()] = active
		}
	}
	for _, e := range owned {
		if !wantKeys[e.Key()] && !held[e] {
			batch.Remove = append(batch.Remove, e)
		}
	}
	slices.SortFunc(batch.Remove, ledger.Compare)
	slices.SortFunc(batch.Add, ledger.Compare)
	return batch
}

// refuseAdditions reports a run that changed nothing because the ledger
// could not record the additions: existing forwards stay, the additions
// are ERROR.
func (r *Reconciler) refuseAdditions(add []backend.Entry, err error, rep *Report) {
	rep.Err = fmt.Errorf("state directory: %w", err)
	for _, w := range add {
		rep.Outcomes[w.Key()] = errorOutcome("not added: cannot record ownership in the state directory: " + err.Error())
	}
	r.log.Error("not changing forwards: the ledger cannot be written", "err", err)
}

// distros maps each entry to the distro the ledger should record for it:
// the wanting distro, else the one recorded before.
func (r *Reconciler) distros(wants []ledger.Record) map[backend.Entry]string {
	out := make(map[backend.Entry]string)
	for _, rec := range r.l.Records() {
		out[rec.Entry] = rec.Distro
	}
	for _, w := range wants {
		out[w.Entry] = w.Distro
	}
	return out
}

// record makes entries, and the entries hidden at the last listing, the
// ledger's set.
func (r *Reconciler) record(entries []backend.Entry, distros map[backend.Entry]string) error {
	return r.l.Replace(records(append(slices.Clone(entries), r.hidden...), distros))
}

// records pairs entries with their distros for the ledger.
func records(entries []backend.Entry, distros map[backend.Entry]string) []ledger.Record {
	out := make([]ledger.Record, len(entries))
	for i, e := range entries {
		out[i] = ledger.Record{Entry: e, Distro: distros[e]}
	}
	return out
}

// applyBatch applies the batch of a full run and returns the entries owned
// afterwards; v, the backend as listed, becomes what the next run knows
// unless the batch failed whole.
func (r *Reconciler) applyBatch(ctx context.Context, batch backend.Batch, owned []backend.Entry, v *view, rep *Report) []backend.Entry {
	removed, added, outdated, err := r.apply(ctx, batch, rep)
	if err != nil {
		return r.afterBatchFailure(ctx, batch, owned, err, rep)
	}
	v.applied(removed, added)
	r.known = v
	if outdated {
		r.known = nil
	}
	gone := set(removed)
	var truth []backend.Entry
	for _, e := range owned {
		if !gone[e] {
			truth = append(truth, e)
		}
	}
	return append(truth, added...)
}

// apply runs the batch, sets the outcome of every addition and returns
// the entries it removed and added, and whether the backend held an entry
// the view did not (outdated): the next run must list it. An error is a
// batch that failed as a whole: what it left is unknown (see
// afterBatchFailure).
func (r *Reconciler) apply(ctx context.Context, batch backend.Batch, rep *Report) (removed, added []backend.Entry, outdated bool, err error) {
	r.log.Debug("applying", "backend", r.b.Name(), "remove", len(batch.Remove), "add", len(batch.Add))
	err = r.b.Apply(ctx, batch)
	var ae *backend.ApplyError
	if err != nil && !errors.As(err, &ae) {
		return nil, nil, false, err
	}
	for _, e := range batch.Remove {
		if f, failed := failure(ae, e, true); failed {
			r.log.Warn("remove forward", "entry", e.String(), "err", f.Err)
			continue
		}
		removed = append(removed, e)
		r.log.Info("forward removed", "entry", e.String())
	}
	for _, w := range batch.Add {
		if f, failed := failure(ae, w, false); failed {
			rep.Outcomes[w.Key()] = classify(w, f.Err)
			// Someone made the entry since the backend was last listed,
			// so what wslfwd knows of the backend is out of date.
			outdated = outdated || errors.Is(f.Err, backend.ErrExists)
			r.log.Warn("add forward", "entry", w.String(), "err", f.Err)
			continue
		}
		added = append(added, w)
		rep.Outcomes[w.Key()] = active
		r.log.Info("forward added", "entry", w.String())
	}
	return removed, added, outdated, nil
}

// failed are the entries of add that were not added.
func failed(add, added []backend.Entry) []backend.Entry {
	ok := set(added)
	var out []backend.Entry
	for _, e := range add {
		if !ok[e] {
			out = append(out, e)
		}
	}
	return out
}

// unhidden returns es without the entries hidden at the last listing: an
// addition of one fails (a value wslfwd cannot read holds its key), but
// the entry is still wslfwd's and stays in the ledger.
func (r *Reconciler) unhidden(es []backend.Entry) []backend.Entry {
	return slices.DeleteFunc(es, func(e backend.Entry) bool { return slices.Contains(r.hidden, e) })
}

// afterBatchFailure finds out what a batch that failed as a whole left
// behind by listing again. If even that fails, it keeps claiming every
// entry it may have made: a superset is safe, entries missing from the
// backend are forgotten on a later run. A batch that changed nothing
// (backend.ErrNothingChanged) made none of its additions: one found
// there is someone else's, made since the backend was last listed.
func (r *Reconciler) afterBatchFailure(ctx context.Context, batch backend.Batch, owned []backend.Entry, applyErr error, rep *Report) []backend.Entry {
	rep.Err = fmt.Errorf("apply to %s: %w", r.b.Name(), applyErr)
	r.log.Warn("apply failed", "backend", r.b.Name(), "err", applyErr)
	made := batch.Add
	if errors.Is(applyErr, backend.ErrNothingChanged) {
		made = nil
	}
	claimed := set(append(slices.Clone(owned), made...))
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
		if present[w] && claimed[w] {
			rep.Outcomes[w.Key()] = active
		} else {
			rep.Outcomes[w.Key()] = errorOutcome(applyErr.Error())
		}
	}
	return truth
}

func (r *Reconciler) uniqueWants(want []ledger.Record) []ledger.Record {
	seen := make(map[backend.Key]backend.Entry, len(want))
	out := make([]ledger.Record, 0, len(want))
	for _, w := range want {
		if prev, dup := seen[w.Entry.Key()]; dup {
			if prev != w.Entry {
				r.log.Warn("two targets wanted for one key; keeping the first", "kept", prev.String(), "dropped", w.Entry.String())
			}
			continue
		}
		seen[w.Entry.Key()] = w.Entry
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
func classify(e backend.Entry, err error) Outcome {
	switch {
	case errors.Is(err, backend.ErrExists):
		return Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT,
			Reason: fmt.Sprintf("held by an entry wslfwd does not own (%s)", e)}
	case errors.Is(err, backend.ErrPortInUse):
		return Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT, Reason: err.Error()}
	case errors.Is(err, backend.ErrExcludedPort):
		return Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED, Reason: err.Error()}
	}
	return errorOutcome(err.Error())
}

func errorOutcome(reason string) Outcome {
	return Outcome{State: wslfwdv1.ForwardState_FORWARD_STATE_ERROR, Reason: reason}
}

func set(es []backend.Entry) map[backend.Entry]bool {
	m := make(map[backend.Entry]bool, len(es))
	for _, e := range es {
		m[e] = true
	}
	return m
}

func sortEntries(es []backend.Entry) { slices.SortFunc(es, ledger.Compare) }
