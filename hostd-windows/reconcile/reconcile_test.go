package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
)

// fakeBackend is an in-memory backend that counts what it is asked to do
// and can be told to fail.
type fakeBackend struct {
	entries map[backend.Key]backend.Entry
	batches []backend.Batch
	lists   int
	// fail makes an addition of the key fail with the error.
	fail map[backend.Key]error
	// failRemove makes a removal of the key fail with the error.
	failRemove map[backend.Key]error
	listErr    error
	// batchErr fails Apply as a whole, after applying the first
	// batchApplies additions.
	batchErr     error
	batchApplies int
	// beforeApply, if set, runs at the start of Apply.
	beforeApply func(backend.Batch)
}

func newFake(entries ...backend.Entry) *fakeBackend {
	f := &fakeBackend{entries: map[backend.Key]backend.Entry{}, fail: map[backend.Key]error{}, failRemove: map[backend.Key]error{}}
	for _, e := range entries {
		f.entries[e.Key()] = e
	}
	return f
}

func (f *fakeBackend) Name() string                     { return "fake" }
func (f *fakeBackend) Supports(p backend.Protocol) bool { return true }
func (f *fakeBackend) Close() error                     { return nil }

// Durable is true: the fake stands in for portproxy, whose entries outlive
// the daemon, so the tests reopen its ledger from disk as a restart would.
func (f *fakeBackend) Durable() bool { return true }

func (f *fakeBackend) List(context.Context) ([]backend.Entry, error) {
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []backend.Entry
	for _, e := range f.entries {
		out = append(out, e)
	}
	return out, nil
}

func (f *fakeBackend) Apply(_ context.Context, b backend.Batch) error {
	f.batches = append(f.batches, b)
	if f.beforeApply != nil {
		f.beforeApply(b)
	}
	if f.batchErr != nil {
		for _, e := range b.Add[:min(f.batchApplies, len(b.Add))] {
			f.entries[e.Key()] = e
		}
		return f.batchErr
	}
	var ae backend.ApplyError
	for _, e := range b.Remove {
		if err := f.failRemove[e.Key()]; err != nil {
			ae.Failures = append(ae.Failures, backend.Failure{Entry: e, Remove: true, Err: err})
			continue
		}
		if f.entries[e.Key()] != e {
			panic(fmt.Sprintf("remove of %v, which the backend does not hold", e))
		}
		delete(f.entries, e.Key())
	}
	for _, e := range b.Add {
		err := f.fail[e.Key()]
		if cur, held := f.entries[e.Key()]; held && err == nil {
			err = backend.ErrPortInUse
			if cur == e {
				err = backend.ErrExists
			}
		}
		if err != nil {
			ae.Failures = append(ae.Failures, backend.Failure{Entry: e, Err: err})
			continue
		}
		f.entries[e.Key()] = e
	}
	if len(ae.Failures) > 0 {
		return &ae
	}
	return nil
}

func (f *fakeBackend) has(e backend.Entry) bool { return f.entries[e.Key()] == e }

// removed reports whether any batch ever removed e.
func (f *fakeBackend) removed(e backend.Entry) bool {
	for _, b := range f.batches {
		if slices.Contains(b.Remove, e) {
			return true
		}
	}
	return false
}

func entry(p backend.Protocol, listen, connect string) backend.Entry {
	return backend.Entry{Protocol: p, Listen: netip.MustParseAddrPort(listen), Connect: netip.MustParseAddrPort(connect)}
}

var (
	a80    = entry(backend.TCP, "0.0.0.0:80", "172.28.240.53:80")
	a80new = entry(backend.TCP, "0.0.0.0:80", "172.28.240.99:80")
	b443   = entry(backend.TCP, "0.0.0.0:443", "172.28.240.53:443")
	c53    = entry(backend.UDP, "0.0.0.0:53", "172.28.240.53:53")
	d22    = entry(backend.TCP, "0.0.0.0:22", "172.28.240.53:22")
	// A user's own portproxy entry.
	user3000 = entry(backend.TCP, "0.0.0.0:3000", "192.168.1.5:3000")
)

// wants is a plan that wants es, for no distro in particular.
func wants(es ...backend.Entry) Plan {
	p := Plan{Want: make([]ledger.Record, len(es))}
	for i, e := range es {
		p.Want[i] = ledger.Record{Entry: e}
	}
	return p
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func setup(t *testing.T, f *fakeBackend) (*Reconciler, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	l, err := ledger.Open(dir, f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return New(f, l, quiet), dir
}

func reopen(t *testing.T, f *fakeBackend, dir string) (*Reconciler, *ledger.Ledger) {
	t.Helper()
	l, err := ledger.Open(dir, f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return New(f, l, quiet), l
}

func wantOutcome(t *testing.T, rep Report, e backend.Entry, state wslfwdv1.ForwardState, reason string) {
	t.Helper()
	o, ok := rep.Outcomes[e.Key()]
	if !ok {
		t.Fatalf("no outcome for %v", e)
	}
	if o.State != state || !strings.Contains(o.Reason, reason) || (reason == "") != (o.Reason == "") {
		t.Errorf("outcome for %v = %v %q, want %v %q", e, o.State, o.Reason, state, reason)
	}
}

const (
	activeState   = wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
	conflictState = wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT
	blockedState  = wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED
	errorState    = wslfwdv1.ForwardState_FORWARD_STATE_ERROR
)

func TestAddsInOneBatchRecordingIntentFirst(t *testing.T) {
	f := newFake()
	r, dir := setup(t, f)
	f.beforeApply = func(b backend.Batch) {
		// The ledger on disk already claims every addition.
		_, l := reopen(t, newFake(), dir)
		for _, e := range b.Add {
			if !slices.Contains(l.Entries(), e) {
				t.Errorf("Apply before the ledger records %v", e)
			}
		}
	}
	rep := r.Reconcile(context.Background(), wants(b443, a80, c53, a80))
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	if len(f.batches) != 1 || len(f.batches[0].Add) != 3 || len(f.batches[0].Remove) != 0 {
		t.Fatalf("batches %v, want one with 3 additions", f.batches)
	}
	for _, e := range []backend.Entry{a80, b443, c53} {
		wantOutcome(t, rep, e, activeState, "")
		if !f.has(e) {
			t.Errorf("backend lacks %v", e)
		}
	}
	if want := []backend.Entry{a80, b443, c53}; !slices.Equal(rep.Owned, want) {
		t.Errorf("Owned = %v, want %v", rep.Owned, want)
	}
}

func TestFewestChanges(t *testing.T) {
	f := newFake()
	r, _ := setup(t, f)
	ctx := context.Background()
	r.Reconcile(ctx, wants(a80, b443))
	// Unchanged wants: no Apply at all.
	rep := r.Reconcile(ctx, wants(b443, a80))
	if len(f.batches) != 1 {
		t.Fatalf("unchanged wants made %d more batches", len(f.batches)-1)
	}
	wantOutcome(t, rep, a80, activeState, "")
	// One more forward: one batch with one addition.
	r.Reconcile(ctx, wants(a80, b443, c53))
	if len(f.batches) != 2 || !slices.Equal(f.batches[1].Add, []backend.Entry{c53}) || len(f.batches[1].Remove) != 0 {
		t.Fatalf("batches %v, want a second with only %v", f.batches, c53)
	}
	// One forward moves to a new target: one batch, remove old, add new.
	rep = r.Reconcile(ctx, wants(a80new, b443, c53))
	if len(f.batches) != 3 || !slices.Equal(f.batches[2].Remove, []backend.Entry{a80}) || !slices.Equal(f.batches[2].Add, []backend.Entry{a80new}) {
		t.Fatalf("move batch %v", f.batches[2:])
	}
	wantOutcome(t, rep, a80new, activeState, "")
	// One forward goes: one batch, one removal.
	rep = r.Reconcile(ctx, wants(a80new, c53))
	if len(f.batches) != 4 || !slices.Equal(f.batches[3].Remove, []backend.Entry{b443}) || len(f.batches[3].Add) != 0 {
		t.Fatalf("removal batch %v", f.batches[3:])
	}
	if f.has(b443) || !slices.Equal(rep.Owned, []backend.Entry{a80new, c53}) {
		t.Fatalf("after removal backend %v, owned %v", f.entries, rep.Owned)
	}
}

func TestForeignEntriesNeverTouched(t *testing.T) {
	userSame := entry(backend.TCP, "0.0.0.0:443", "172.28.240.53:443") // identical to a want, but the user's
	f := newFake(user3000, userSame)
	r, _ := setup(t, f)
	// A want colliding with a foreign entry, one identical to a foreign entry.
	collide := entry(backend.TCP, "0.0.0.0:3000", "172.28.240.53:3000")
	rep := r.Reconcile(context.Background(), wants(collide, b443, a80))
	wantOutcome(t, rep, collide, conflictState, "held by an entry wslfwd does not own (tcp 0.0.0.0:3000 -> 192.168.1.5:3000)")
	wantOutcome(t, rep, b443, conflictState, "held by an entry wslfwd does not own")
	wantOutcome(t, rep, a80, activeState, "")
	// Nothing wanted any more: wslfwd removes its own, never the user's.
	rep = r.Reconcile(context.Background(), Plan{})
	if !f.has(user3000) || !f.has(userSame) || f.removed(user3000) || f.removed(userSame) {
		t.Fatalf("foreign entries touched: backend %v, batches %v", f.entries, f.batches)
	}
	if f.has(a80) || len(rep.Owned) != 0 {
		t.Fatalf("own entry kept: %v", f.entries)
	}
	if want := []backend.Entry{userSame, user3000}; !slices.Equal(rep.Foreign, want) {
		t.Errorf("Foreign = %v, want %v", rep.Foreign, want)
	}
	// A foreign entry at a key wslfwd once owned, with another target, is
	// still foreign.
	f.entries[a80.Key()] = a80new
	rep = r.Reconcile(context.Background(), wants(a80))
	wantOutcome(t, rep, a80, conflictState, "does not own")
	if !f.has(a80new) {
		t.Fatal("foreign entry replaced")
	}
}

func TestAdoptAfterRestart(t *testing.T) {
	f := newFake(user3000)
	r, dir := setup(t, f)
	r.Reconcile(context.Background(), wants(a80, b443))
	batches := len(f.batches)

	// The daemon restarts; the backend (portproxy) kept its entries.
	r2, _ := reopen(t, f, dir)
	rep := r2.Reconcile(context.Background(), wants(a80, b443))
	if len(f.batches) != batches {
		t.Fatalf("adoption applied %v", f.batches[batches:])
	}
	wantOutcome(t, rep, a80, activeState, "")
	wantOutcome(t, rep, b443, activeState, "")
	if !slices.Equal(rep.Owned, []backend.Entry{a80, b443}) || !slices.Equal(rep.Foreign, []backend.Entry{user3000}) {
		t.Fatalf("owned %v foreign %v", rep.Owned, rep.Foreign)
	}
}

// After a restart, entries held for distros whose agents are not back are
// kept as they stand: no batch at all, each held entry ACTIVE, its distro
// still in the ledger. A held entry that went missing is not added again,
// and a wanted key overrides a hold.
func TestHoldKeepsAdoptedEntries(t *testing.T) {
	f := newFake(user3000)
	r, dir := setup(t, f)
	r.Reconcile(context.Background(), Plan{Want: []ledger.Record{{Entry: a80, Distro: "Ubuntu"}, {Entry: b443, Distro: "Debian"}, {Entry: d22, Distro: "Debian"}}})
	delete(f.entries, d22.Key()) // someone deleted it while the daemon was down
	batches := len(f.batches)

	r2, l := reopen(t, f, dir)
	rep := r2.Reconcile(context.Background(), Plan{Hold: []backend.Entry{a80, b443, d22}})
	if len(f.batches) != batches {
		t.Fatalf("holding applied %v", f.batches[batches:])
	}
	wantOutcome(t, rep, a80, activeState, "")
	wantOutcome(t, rep, b443, activeState, "")
	if o, ok := rep.Outcomes[d22.Key()]; ok || f.has(d22) {
		t.Fatalf("a held entry that went missing got %v (in the backend: %v); want it left gone", o, f.has(d22))
	}
	want := []ledger.Record{{Entry: a80, Distro: "Ubuntu"}, {Entry: b443, Distro: "Debian"}}
	if got := l.Records(); !slices.Equal(got, want) {
		t.Fatalf("ledger %v, want %v", got, want)
	}

	// Ubuntu's agent is back and wants 80 at a new address; Debian's hold
	// ended without its agent.
	rep = r2.Reconcile(context.Background(), Plan{Want: []ledger.Record{{Entry: a80new, Distro: "Ubuntu"}}, Hold: []backend.Entry{a80}})
	wantOutcome(t, rep, a80new, activeState, "")
	if got := f.batches[batches:]; len(got) != 1 || !slices.Equal(got[0].Remove, []backend.Entry{a80, b443}) || !slices.Equal(got[0].Add, []backend.Entry{a80new}) {
		t.Fatalf("batches %v, want one replacing %v and removing %v", got, a80, b443)
	}
	if got := l.Records(); !slices.Equal(got, []ledger.Record{{Entry: a80new, Distro: "Ubuntu"}}) {
		t.Fatalf("ledger %v", got)
	}
}

func TestStaleLedgerEntriesCleared(t *testing.T) {
	f := newFake()
	r, dir := setup(t, f)
	r.Reconcile(context.Background(), wants(a80, b443, c53))
	// While the daemon was down: someone deleted c53, and a80 is no
	// longer wanted after the restart.
	delete(f.entries, c53.Key())
	r2, l := reopen(t, f, dir)
	before := len(f.batches)
	rep := r2.Reconcile(context.Background(), wants(b443))
	if got := f.batches[before:]; len(got) != 1 || !slices.Equal(got[0].Remove, []backend.Entry{a80}) || len(got[0].Add) != 0 {
		t.Fatalf("batches %v, want one removing %v", got, a80)
	}
	if !slices.Equal(l.Entries(), []backend.Entry{b443}) || !slices.Equal(rep.Owned, []backend.Entry{b443}) {
		t.Fatalf("ledger %v owned %v, want [%v]", l.Entries(), rep.Owned, b443)
	}
	// A ledger entry the backend lost is forgotten without any Apply.
	delete(f.entries, b443.Key())
	before = len(f.batches)
	r2.Reconcile(context.Background(), Plan{})
	if len(f.batches) != before || len(l.Entries()) != 0 {
		t.Fatalf("stale entry: batches %v, ledger %v", f.batches[before:], l.Entries())
	}
}

// A durable backend's ledger cannot be written (its directory is gone):
// nothing is added, since an entry wslfwd made but has no record of would
// be taken for a user's after a crash.
func TestLedgerUnwritable(t *testing.T) {
	f := newFake()
	r, dir := setup(t, f)
	r.Reconcile(context.Background(), wants(a80, b443))
	before := len(f.batches)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// a80 stays, b443 is no longer wanted, c53 is new.
	rep := r.Reconcile(context.Background(), wants(a80, c53))
	if len(f.batches) != before {
		t.Fatalf("applied %v without a ledger", f.batches[before:])
	}
	if rep.Err == nil || !strings.Contains(rep.Err.Error(), "state directory") {
		t.Fatalf("Err = %v, want a state directory error", rep.Err)
	}
	wantOutcome(t, rep, c53, errorState, "not added: cannot record ownership in the state directory")
	if !strings.Contains(rep.Outcomes[c53.Key()].Reason, dir) {
		t.Errorf("reason %q does not name %s", rep.Outcomes[c53.Key()].Reason, dir)
	}
	wantOutcome(t, rep, a80, activeState, "")
	if !f.has(a80) || !f.has(b443) || f.has(c53) {
		t.Fatalf("backend changed: %v", f.entries)
	}
	if !slices.Equal(rep.Owned, []backend.Entry{a80, b443}) {
		t.Errorf("Owned = %v", rep.Owned)
	}
	// Once the directory is back, the run catches up.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rep = r.Reconcile(context.Background(), wants(a80, c53))
	if rep.Err != nil || !f.has(c53) || f.has(b443) {
		t.Fatalf("after recovery: err %v backend %v", rep.Err, f.entries)
	}
}

// With a ledger in memory (a backend that is not durable) forwards come and
// go without any state directory, and ownership is still kept: a foreign
// entry stays foreign.
func TestMemoryLedgerNeedsNoStateDir(t *testing.T) {
	f := newFake(user3000)
	r := New(f, ledger.NewMemory(), quiet)
	ctx := context.Background()
	rep := r.Reconcile(ctx, wants(a80, c53))
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	wantOutcome(t, rep, a80, activeState, "")
	wantOutcome(t, rep, c53, activeState, "")
	if !slices.Equal(rep.Owned, []backend.Entry{a80, c53}) || !slices.Equal(rep.Foreign, []backend.Entry{user3000}) {
		t.Fatalf("owned %v foreign %v", rep.Owned, rep.Foreign)
	}
	rep = r.Reconcile(ctx, wants(c53))
	if rep.Err != nil || f.has(a80) || !f.has(c53) || !f.has(user3000) {
		t.Fatalf("after dropping %v: err %v backend %v", a80, rep.Err, f.entries)
	}
}

func TestPartialApplyError(t *testing.T) {
	f := newFake()
	other := errors.New("netsh: access denied")
	f.fail[b443.Key()] = fmt.Errorf("listen: %w", backend.ErrPortInUse)
	f.fail[c53.Key()] = backend.ErrExcludedPort
	f.fail[d22.Key()] = other
	r, dir := setup(t, f)
	rep := r.Reconcile(context.Background(), wants(a80, b443, c53, d22))
	if rep.Err != nil {
		t.Fatalf("Err = %v; per-entry failures are outcomes", rep.Err)
	}
	wantOutcome(t, rep, a80, activeState, "")
	wantOutcome(t, rep, b443, conflictState, "port already in use on the host")
	wantOutcome(t, rep, c53, blockedState, "excluded port range")
	wantOutcome(t, rep, d22, errorState, "access denied")
	_, l := reopen(t, f, dir)
	if !slices.Equal(l.Entries(), []backend.Entry{a80}) {
		t.Fatalf("ledger %v, want only %v", l.Entries(), a80)
	}
	// A failed removal keeps the entry owned, to be retried.
	f.failRemove[a80.Key()] = other
	rep = r.Reconcile(context.Background(), Plan{})
	if !slices.Equal(rep.Owned, []backend.Entry{a80}) || !f.has(a80) {
		t.Fatalf("after failed removal owned %v", rep.Owned)
	}
	delete(f.failRemove, a80.Key())
	rep = r.Reconcile(context.Background(), Plan{})
	if len(rep.Owned) != 0 || f.has(a80) {
		t.Fatalf("retry did not remove: owned %v", rep.Owned)
	}
}

// A batch that fails as a whole after doing part of its work: the
// reconciler lists again and records exactly what exists.
func TestWholeBatchFailure(t *testing.T) {
	f := newFake()
	f.batchErr = errors.New("netsh crashed")
	f.batchApplies = 1
	r, dir := setup(t, f)
	rep := r.Reconcile(context.Background(), wants(a80, b443))
	if rep.Err == nil || !strings.Contains(rep.Err.Error(), "netsh crashed") {
		t.Fatalf("Err = %v", rep.Err)
	}
	wantOutcome(t, rep, a80, activeState, "")
	wantOutcome(t, rep, b443, errorState, "netsh crashed")
	_, l := reopen(t, f, dir)
	if !slices.Equal(l.Entries(), []backend.Entry{a80}) {
		t.Fatalf("ledger %v, want [%v]", l.Entries(), a80)
	}
}

func TestListFailure(t *testing.T) {
	f := newFake()
	r, _ := setup(t, f)
	r.Reconcile(context.Background(), wants(a80))
	f.listErr = errors.New("registry unreadable")
	rep := r.Reconcile(context.Background(), wants(b443))
	if rep.Err == nil || len(f.batches) != 1 {
		t.Fatalf("Err %v, batches %v", rep.Err, f.batches)
	}
	wantOutcome(t, rep, b443, errorState, "registry unreadable")
	if !f.has(a80) || !slices.Equal(rep.Owned, []backend.Entry{a80}) {
		t.Fatalf("owned %v", rep.Owned)
	}
}

func BenchmarkReconcileSteady1000(b *testing.B) {
	f := newFake()
	l, err := ledger.Open(b.TempDir(), f.Name())
	if err != nil {
		b.Fatal(err)
	}
	r := New(f, l, quiet)
	want := make([]backend.Entry, 1000)
	for i := range want {
		want[i] = backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(10000+i)),
			Connect: netip.AddrPortFrom(netip.MustParseAddr("172.28.240.53"), uint16(10000+i))}
	}
	// A few foreign entries beside them.
	for i := range 50 {
		e := backend.Entry{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(20000+i)),
			Connect: netip.AddrPortFrom(netip.MustParseAddr("192.168.1.5"), uint16(20000+i))}
		f.entries[e.Key()] = e
	}
	r.Reconcile(context.Background(), wants(want...))
	b.ReportAllocs()
	for b.Loop() {
		if rep := r.Reconcile(context.Background(), wants(want...)); len(rep.Owned) != 1000 {
			b.Fatalf("owned %d", len(rep.Owned))
		}
	}
	if len(f.batches) != 1 {
		b.Fatalf("steady state applied %d batches", len(f.batches)-1)
	}
}

// Two different targets for one key (the policy prevents it) never reach
// the backend together: the first is used.
func TestConflictingWantsKeepFirst(t *testing.T) {
	f := newFake()
	r, _ := setup(t, f)
	rep := r.Reconcile(context.Background(), wants(a80new, a80))
	if len(f.batches) != 1 || !slices.Equal(f.batches[0].Add, []backend.Entry{a80new}) {
		t.Fatalf("batches %v, want one adding only %v", f.batches, a80new)
	}
	wantOutcome(t, rep, a80new, activeState, "")
}

// verifyingBackend is a fakeBackend whose entries can exist without
// working, as a portproxy entry does while iphlpsvc is stopped.
type verifyingBackend struct {
	*fakeBackend
	broken  map[backend.Entry]error
	checked [][]backend.Entry
}

func (v *verifyingBackend) Verify(_ context.Context, es []backend.Entry) map[backend.Entry]error {
	v.checked = append(v.checked, slices.Clone(es))
	out := map[backend.Entry]error{}
	for _, e := range es {
		if err := v.broken[e]; err != nil {
			out[e] = err
		}
	}
	return out
}

// ACTIVE means the entry exists and works: an entry the backend finds not
// working is ERROR with the backend's reason, still owned and left in
// place, and ACTIVE again once it works, without being made anew.
func TestActiveOnlyWhenVerified(t *testing.T) {
	f := newFake(user3000)
	v := &verifyingBackend{fakeBackend: f, broken: map[backend.Entry]error{
		a80: errors.New("nothing listens on 0.0.0.0:80"),
	}}
	r := New(v, ledger.NewMemory(), quiet)
	collide := entry(backend.TCP, "0.0.0.0:3000", "172.28.240.53:3000")
	rep := r.Reconcile(context.Background(), wants(a80, b443, collide))
	wantOutcome(t, rep, a80, errorState, "nothing listens on 0.0.0.0:80")
	wantOutcome(t, rep, b443, activeState, "")
	wantOutcome(t, rep, collide, conflictState, "does not own")
	if !rep.Outcomes[a80.Key()].Exists || !rep.Outcomes[b443.Key()].Exists || rep.Outcomes[collide.Key()].Exists {
		t.Errorf("Exists: %v, want true for the entries the backend holds", rep.Outcomes)
	}
	if len(v.checked) != 1 || !slices.Equal(v.checked[0], []backend.Entry{a80, b443}) {
		t.Errorf("verified %v, want the two entries wslfwd holds", v.checked)
	}
	if !f.has(a80) || !slices.Equal(rep.Owned, []backend.Entry{a80, b443}) {
		t.Fatalf("the entry that does not work was dropped: owned %v", rep.Owned)
	}

	delete(v.broken, a80)
	batches := len(f.batches)
	rep = r.Reconcile(context.Background(), wants(a80, b443))
	wantOutcome(t, rep, a80, activeState, "")
	if len(f.batches) != batches {
		t.Fatalf("a working entry was made anew: %v", f.batches[batches:])
	}
}

// obscuringBackend is a fakeBackend that, at some keys, holds values it
// cannot read as entries (backend.Obscurer): List leaves those keys out
// and an addition there fails, as portproxy does for a listen address and
// port in two tables.
type obscuringBackend struct {
	*fakeBackend
	obscured map[backend.Key]bool
}

func (o *obscuringBackend) List(ctx context.Context) ([]backend.Entry, error) {
	all, err := o.fakeBackend.List(ctx)
	return slices.DeleteFunc(all, func(e backend.Entry) bool { return o.obscured[e.Key()] }), err
}

func (o *obscuringBackend) ListObscured(ctx context.Context) ([]backend.Entry, []backend.Key, error) {
	all, err := o.List(ctx)
	return all, slices.Collect(maps.Keys(o.obscured)), err
}

func (o *obscuringBackend) Apply(ctx context.Context, b backend.Batch) error {
	for _, e := range b.Remove {
		if o.obscured[e.Key()] {
			panic(fmt.Sprintf("removal of %v, at a key the backend cannot read", e))
		}
	}
	var refused []backend.Failure
	b.Add = slices.DeleteFunc(slices.Clone(b.Add), func(e backend.Entry) bool {
		if o.obscured[e.Key()] {
			refused = append(refused, backend.Failure{Entry: e, Err: backend.ErrPortInUse})
		}
		return o.obscured[e.Key()]
	})
	err := o.fakeBackend.Apply(ctx, b)
	if len(refused) == 0 {
		return err
	}
	var ae *backend.ApplyError
	if !errors.As(err, &ae) {
		ae = &backend.ApplyError{}
	}
	ae.Failures = append(ae.Failures, refused...)
	return ae
}

// An entry wslfwd made whose key becomes unreadable (a user put the same
// listen address and port in a second table) stays in the ledger and is
// left alone while it is hidden, wanted or not; once the other value is
// gone it is wslfwd's again, and goes when not wanted.
func TestHiddenOwnedEntryStaysOwned(t *testing.T) {
	f := newFake()
	o := &obscuringBackend{fakeBackend: f, obscured: map[backend.Key]bool{}}
	l := ledger.NewMemory()
	r := New(o, l, quiet)
	r.Reconcile(context.Background(), wants(a80))
	if !f.has(a80) {
		t.Fatal("a80 not added")
	}
	o.obscured[a80.Key()] = true
	for _, p := range []Plan{wants(), wants(a80)} {
		rep := r.Reconcile(context.Background(), p)
		if got := l.Entries(); !slices.Equal(got, []backend.Entry{a80}) {
			t.Fatalf("ledger %v while a80 is hidden, want it kept", got)
		}
		if len(p.Want) > 0 && rep.Outcomes[a80.Key()].State == activeState {
			t.Errorf("a hidden entry reported ACTIVE: %v", rep.Outcomes)
		}
	}
	// An incremental run at its key, wanting it: the addition is refused,
	// and the entry stays owned.
	p := wants(a80)
	p.Keys = map[backend.Key]bool{a80.Key(): true}
	r.Reconcile(context.Background(), p)
	if got := l.Entries(); !slices.Equal(got, []backend.Entry{a80}) {
		t.Fatalf("ledger %v after an incremental run at a80's hidden key, want it kept", got)
	}
	delete(o.obscured, a80.Key())
	r.Reconcile(context.Background(), wants())
	if f.has(a80) || len(l.Entries()) != 0 {
		t.Fatalf("after the other value went: backend has a80 %v, ledger %v; want both empty", f.has(a80), l.Entries())
	}
}
