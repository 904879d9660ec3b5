package portproxy

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
	"github.com/wslfwd/wslfwd/hostd-windows/reconcile"
)

func newFake() (*Backend, *memStore, *fakeNetsh) {
	store := newMemStore()
	netsh := &fakeNetsh{store: store}
	return New(store, netsh, Options{}), store, netsh
}

func list(t *testing.T, b *Backend) []backend.Entry {
	t.Helper()
	got, err := b.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func failures(t *testing.T, err error) *backend.ApplyError {
	t.Helper()
	var ae *backend.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply error = %v, want an *ApplyError", err)
	}
	return ae
}

func TestApplyOneNetshPerBatch(t *testing.T) {
	b, _, netsh := newFake()
	a1, a2 := tcp("0.0.0.0:4000", "172.28.240.53:4000"), tcp("[::]:4000", "172.28.240.53:4000")
	if err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{a1, a2}}); err != nil {
		t.Fatal(err)
	}
	if len(netsh.scripts) != 1 {
		t.Fatalf("%d netsh runs, want 1", len(netsh.scripts))
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{a1, a2}) {
		t.Fatalf("List = %v", got)
	}
	// Moving a key to a new target: remove and add in one run.
	moved := tcp("0.0.0.0:4000", "172.28.240.54:4000")
	if err := b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{a1}, Add: []backend.Entry{moved}}); err != nil {
		t.Fatal(err)
	}
	if len(netsh.scripts) != 2 || !strings.Contains(netsh.scripts[1], "delete v4tov4") {
		t.Fatalf("scripts = %q", netsh.scripts)
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{moved, a2}) {
		t.Fatalf("List = %v", got)
	}
	// Nothing to do: no netsh run at all. (The entry added exists: that
	// fails, since whoever made it, the caller did not know of it.)
	err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{moved}, Remove: []backend.Entry{a1}})
	if f, ok := failureOf(err, moved); !ok || !errors.Is(f.Err, backend.ErrExists) {
		t.Fatalf("adding an entry that exists: %v, want ErrExists", err)
	}
	if len(netsh.scripts) != 2 {
		t.Fatalf("netsh ran for a batch that changes nothing: %q", netsh.scripts[2:])
	}
}

func TestApplyLyingNetsh(t *testing.T) {
	store := newMemStore()
	keep := tcp("0.0.0.0:22", "172.28.240.53:22")
	store.set(V4ToV4, "0.0.0.0/22", "172.28.240.53/22")
	netsh := &lyingNetsh{}
	b := New(store, netsh, Options{})
	add := tcp("0.0.0.0:4000", "172.28.240.53:4000")
	err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{add}, Remove: []backend.Entry{keep}})
	ae := failures(t, err)
	if netsh.runs != 3 {
		t.Fatalf("netsh ran %d times, want the script and then each of its 2 lines alone", netsh.runs)
	}
	for _, want := range []struct {
		e      backend.Entry
		remove bool
	}{{add, false}, {keep, true}} {
		f, ok := ae.FailureFor(want.e.Key(), want.remove)
		if !ok {
			t.Fatalf("no failure for %v (remove=%v) in %v", want.e, want.remove, ae)
		}
		if !errors.Is(f.Err, backend.ErrNotApplied) {
			t.Errorf("failure %v, want ErrNotApplied", f.Err)
		}
		if !strings.Contains(f.Err.Error(), "requires elevation") {
			t.Errorf("failure %q does not carry netsh's output", f.Err)
		}
	}
	if len(ae.Failures) != 2 {
		t.Errorf("failures = %v", ae.Failures)
	}
}

// A key moved to a new target by a netsh that does nothing: the old entry
// is still there, so its removal failed too, not only the addition. Had
// the removal counted as done, the reconciler would drop the entry from the
// ledger and the entry wslfwd made would be foreign for good.
func TestApplyLyingNetshKeepsAReplacedEntryOwned(t *testing.T) {
	store := newMemStore()
	old := tcp("0.0.0.0:8080", "172.28.240.53:8080")
	store.set(V4ToV4, "0.0.0.0/8080", "172.28.240.53/8080")
	netsh := &lyingNetsh{}
	b := New(store, netsh, Options{})
	moved := tcp("0.0.0.0:8080", "172.28.240.54:8080")
	ae := failures(t, b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{old}, Add: []backend.Entry{moved}}))
	if _, ok := ae.FailureFor(old.Key(), true); !ok {
		t.Errorf("no failure for the removal of %v, which the registry still holds: %v", old, ae)
	}
	if _, ok := ae.FailureFor(moved.Key(), false); !ok {
		t.Errorf("no failure for the addition of %v: %v", moved, ae)
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{old}) {
		t.Fatalf("List = %v, want [%v]", got, old)
	}
}

func TestApplyUDPUnsupported(t *testing.T) {
	b, _, netsh := newFake()
	udp := entry(backend.UDP, "0.0.0.0:53", "172.28.240.53:53")
	ok := tcp("0.0.0.0:80", "172.28.240.53:80")
	ae := failures(t, b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{udp, ok}}))
	if len(ae.Failures) != 1 || !errors.Is(ae.Failures[0].Err, backend.ErrUnsupported) || ae.Failures[0].Entry != udp {
		t.Fatalf("failures = %v", ae.Failures)
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{ok}) {
		t.Fatalf("List = %v; the TCP entry of the batch must still be added", got)
	}
	if strings.Contains(strings.Join(netsh.scripts, ""), "udp") {
		t.Fatalf("udp reached netsh: %q", netsh.scripts)
	}
	if b.Supports(backend.UDP) || !b.Supports(backend.TCP) {
		t.Fatal("Supports: want TCP only")
	}
}

func TestApplyLeavesForeignAndOddValues(t *testing.T) {
	b, store, netsh := newFake()
	store.set(V4ToV4, "0.0.0.0/30000-50000", "172.23.188.236/30000-50000")
	store.set(V4ToV4, "*/8080", "localhost/80")
	store.set(V4ToV4, "0.0.0.0/80", "10.4.226.215/80") // a user's own entry
	store.extra = []Value{{Kind: V4ToV4, Name: "0.0.0.0/81", Problem: "value type REG_DWORD, not REG_SZ"}}
	before, _ := store.Read()

	// Taking the user's key fails; removing "our" entry at that key while
	// the registry holds a different target is refused.
	mine := tcp("0.0.0.0:80", "172.28.240.53:80")
	ae := failures(t, b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{mine}}))
	if f, ok := ae.FailureFor(mine.Key(), false); !ok || !errors.Is(f.Err, backend.ErrPortInUse) {
		t.Fatalf("add over a foreign entry: %v", ae)
	}
	ae = failures(t, b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{mine}}))
	if _, ok := ae.FailureFor(mine.Key(), true); !ok {
		t.Fatalf("remove of a different target: %v", ae)
	}
	if len(netsh.scripts) != 0 {
		t.Fatalf("netsh ran: %q", netsh.scripts)
	}
	after, _ := store.Read()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("registry changed:\n%v\n%v", before, after)
	}
	snap, err := b.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Entries) != 1 || len(snap.Unparsed) != 3 {
		t.Fatalf("snapshot = %+v, want the user's entry and 3 unparsed values", snap)
	}
}

func TestApplyRemoveMissingIsDone(t *testing.T) {
	b, _, netsh := newFake()
	if err := b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{tcp("0.0.0.0:80", "172.28.240.53:80")}}); err != nil {
		t.Fatal(err)
	}
	if len(netsh.scripts) != 0 {
		t.Fatalf("netsh ran: %q", netsh.scripts)
	}
}

func TestApplyDuplicateAdd(t *testing.T) {
	b, _, _ := newFake()
	a, c := tcp("0.0.0.0:80", "172.28.240.53:80"), tcp("0.0.0.0:80", "172.28.240.54:80")
	ae := failures(t, b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{a, c}}))
	if len(ae.Failures) != 1 || ae.Failures[0].Entry != c {
		t.Fatalf("failures = %v", ae.Failures)
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{a}) {
		t.Fatalf("List = %v", got)
	}
}

func TestApplyPortCheck(t *testing.T) {
	store := newMemStore()
	store.set(V4ToV4, "0.0.0.0/9000", "172.28.240.53/9000")
	netsh := &fakeNetsh{store: store}
	var asked []backend.Entry
	check := &PortCheck{
		Ranges: func(_ context.Context, v6 bool) ([]PortRange, error) {
			if v6 {
				return nil, errors.New("netsh failed")
			}
			return ParseExcludedRanges("----- -----\n 5000 5099\n"), nil
		},
		Bind: func(ap netip.AddrPort) error {
			if ap.Port() == 7000 || ap.Port() == 9000 {
				return errors.New("address in use")
			}
			return nil
		},
	}
	b := New(store, netsh, Options{CheckPort: func(ctx context.Context, e backend.Entry) error {
		asked = append(asked, e)
		return check.Check(ctx, e)
	}})
	excluded := tcp("0.0.0.0:5050", "172.28.240.53:5050")
	inUse := tcp("0.0.0.0:7000", "172.28.240.53:7000")
	v6 := tcp("[::]:5050", "172.28.240.53:5050")          // ranges unknown for IPv6: allowed
	present := tcp("0.0.0.0:9000", "172.28.240.53:9000")  // already there: not checked
	replaced := tcp("0.0.0.0:9000", "172.28.240.54:9000") // held by our own entry: not checked
	err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{excluded, inUse, v6}})
	ae := failures(t, err)
	if f, ok := ae.FailureFor(excluded.Key(), false); !ok || !errors.Is(f.Err, backend.ErrExcludedPort) {
		t.Errorf("excluded: %v", ae)
	}
	if f, ok := ae.FailureFor(inUse.Key(), false); !ok || !errors.Is(f.Err, backend.ErrPortInUse) {
		t.Errorf("in use: %v", ae)
	}
	if len(ae.Failures) != 2 {
		t.Errorf("failures = %v", ae.Failures)
	}
	asked = nil
	if err := b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{present}, Add: []backend.Entry{replaced}}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 0 {
		t.Errorf("CheckPort asked about %v, whose key portproxy already holds", asked)
	}
	if got := list(t, b); !reflect.DeepEqual(got, []backend.Entry{replaced, v6}) {
		t.Errorf("List = %v", got)
	}
}

// TestApplyScriptStopsAtFailingLine: netsh may stop a `-f` script at its
// first failing line, so one entry Windows refuses must not keep the
// entries after it from being made, nor a removal before it undone.
func TestApplyScriptStopsAtFailingLine(t *testing.T) {
	b, store, netsh := newFake()
	old := tcp("0.0.0.0:3000", "172.28.240.53:3000")
	store.set(V4ToV4, "0.0.0.0/3000", "172.28.240.53/3000")
	bad := tcp("0.0.0.0:4000", "172.28.240.53:4000")
	good := []backend.Entry{tcp("0.0.0.0:4001", "172.28.240.53:4001"), tcp("[::]:4002", "172.28.240.53:4002")}
	netsh.refuse = func(line string) bool { return strings.Contains(line, "listenport=4000 ") }
	ae := failures(t, b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{old}, Add: append([]backend.Entry{bad}, good...)}))
	if f, ok := ae.FailureFor(bad.Key(), false); !ok || !errors.Is(f.Err, backend.ErrNotApplied) || !strings.Contains(f.Err.Error(), "parameter is incorrect") {
		t.Fatalf("failures = %v, want the refused entry not applied, with netsh's words", ae)
	}
	if len(ae.Failures) != 1 {
		t.Errorf("failures = %v, want only the refused entry", ae.Failures)
	}
	if got := list(t, b); !reflect.DeepEqual(got, good) {
		t.Fatalf("List = %v, want %v: one refused line must not block the rest", got, good)
	}
	for _, s := range netsh.scripts[1:] {
		if strings.Count(s, "\r\n") != 1 {
			t.Errorf("retry script %q has more than one line", s)
		}
	}
}

// TestApplyOnlyLinesThatMustSucceed: a script never deletes an entry the
// registry does not show, nor adds one it already holds, since either
// line fails and may stop the script.
func TestApplyOnlyLinesThatMustSucceed(t *testing.T) {
	b, store, netsh := newFake()
	present := tcp("0.0.0.0:5000", "172.28.240.53:5000")
	store.set(V4ToV4, "0.0.0.0/5000", "172.28.240.53/5000")
	gone := tcp("0.0.0.0:5001", "172.28.240.53:5001")
	fresh := tcp("0.0.0.0:5002", "172.28.240.53:5002")
	err := b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{gone}, Add: []backend.Entry{present, fresh}})
	if f, ok := failureOf(err, present); !ok || !errors.Is(f.Err, backend.ErrExists) || strings.Count(err.Error(), "add ") != 1 {
		t.Fatalf("Apply = %v, want only the present entry to fail with ErrExists", err)
	}
	if len(netsh.scripts) != 1 || strings.Count(netsh.scripts[0], "\r\n") != 1 || !strings.Contains(netsh.scripts[0], "listenport=5002 ") {
		t.Fatalf("scripts = %q, want one line adding only the missing entry", netsh.scripts)
	}
}

// TestApplyLeavesUnparsedValueAtSameKey: a value wslfwd cannot read (a
// user's) whose name is the listen address and port of an entry to add
// holds that key: adding would overwrite it, and removing later would
// delete it. The add fails as port in use; the value is never touched.
// A value of the other family's table, or of another port, holds nothing
// an addition needs.
func TestApplyUnparsedValuesHoldOnlyTheirSocket(t *testing.T) {
	for _, v := range []Value{
		{Kind: V6ToV4, Name: "*/4000", Data: "172.28.240.53/4000"},
		{Kind: V6ToV6, Name: "myhost.lan/4000", Data: "fd00::2/4000"},
		{Kind: V4ToV4, Name: "*/4001", Data: "172.28.240.53/4001"},
		{Kind: V4ToV4, Name: "*/notaport", Data: "172.28.240.53/4000"},
	} {
		b, store, _ := newFake()
		store.set(v.Kind, v.Name, v.Data)
		mine := tcp("0.0.0.0:4000", "172.28.240.53:4000")
		if err := b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{mine}}); err != nil {
			t.Errorf("%v: add = %v, want it added", v, err)
		}
	}
}

func TestApplyLeavesUnparsedValueAtSameKey(t *testing.T) {
	for _, v := range []Value{
		{Kind: V4ToV4, Name: "0.0.0.0/4000", Data: "myhost.lan/4000"},     // same table: would be overwritten
		{Kind: V4ToV6, Name: "0.0.0.0/4000", Data: "myhost.lan/4000"},     // other table, same listen key
		{Kind: V4ToV4, Name: "0.0.0.0/4000", Data: "172.28.240.53/04000"}, // port netsh would not write
		// Other spellings of the same socket.
		{Kind: V4ToV4, Name: "*/4000", Data: "172.28.240.53/4000"}, // made without listenaddress
		{Kind: V4ToV6, Name: "*/4000", Data: "fd00::2/4000"},
		{Kind: V4ToV4, Name: "0.0.0.0/04000", Data: "172.28.240.53/4000"},
		{Kind: V4ToV4, Name: "::ffff:0.0.0.0/4000", Data: "172.28.240.53/4000"},
		{Kind: V4ToV4, Name: "myhost.lan/4000", Data: "172.28.240.53/4000"}, // a host name: the port, any address
	} {
		b, store, netsh := newFake()
		store.set(v.Kind, v.Name, v.Data)
		before, _ := store.Read()
		mine := tcp("0.0.0.0:4000", "172.28.240.53:4000")
		ae := failures(t, b.Apply(t.Context(), backend.Batch{Add: []backend.Entry{mine}}))
		if f, ok := ae.FailureFor(mine.Key(), false); !ok || !errors.Is(f.Err, backend.ErrPortInUse) {
			t.Errorf("%v: add = %v, want port in use", v, ae)
		}
		if err := b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{mine}}); err != nil {
			t.Errorf("%v: remove = %v, want nothing to do", v, err)
		}
		if after, _ := store.Read(); !reflect.DeepEqual(before, after) || len(netsh.scripts) != 0 {
			t.Errorf("%v: registry %v after %q, want it untouched", v, after, netsh.scripts)
		}
	}
}

// A removal of an entry that is there while a value wslfwd cannot read
// holds its socket too fails and changes nothing: the entry read (beside
// a value made without listenaddress, or with another spelling), or
// unread (its socket in two tables reads as neither). netsh's delete names
// only the address, and under the harsher reading (the fake's) it takes
// every value of that socket, the user's too; and a removal counted done
// would drop the entry from the ledger while it stays in the registry.
func TestRemovalBesideAnUnreadValueOfItsSocketFails(t *testing.T) {
	mine := tcp("0.0.0.0:3000", "172.28.240.53:3000")
	for _, v := range []Value{
		{Kind: V4ToV4, Name: "*/3000", Data: "10.0.0.9/3000"},
		{Kind: V4ToV4, Name: "0.0.0.0/03000", Data: "10.0.0.9/3000"},
		{Kind: V4ToV6, Name: "0.0.0.0/3000", Data: "fd00::2/3000"},
	} {
		b, store, netsh := newFake()
		store.set(V4ToV4, "0.0.0.0/3000", "172.28.240.53/3000")
		store.set(v.Kind, v.Name, v.Data)
		before, _ := store.Read()
		ae := failures(t, b.Apply(t.Context(), backend.Batch{Remove: []backend.Entry{mine}}))
		if _, ok := ae.FailureFor(mine.Key(), true); !ok {
			t.Errorf("%v: remove = %v, want it refused", v, ae)
		}
		if after, _ := store.Read(); !reflect.DeepEqual(before, after) || len(netsh.scripts) != 0 {
			t.Errorf("%v: registry %v after %q, want it untouched", v, after, netsh.scripts)
		}
	}
}

// A listen address and port in two tables is in neither's List, and
// ListObscured names it, so the reconciler keeps an entry of its own there.
func TestListObscuredNamesKeysListLeavesOut(t *testing.T) {
	b, store, _ := newFake()
	store.set(V4ToV4, "0.0.0.0/8080", "172.28.240.53/8080")
	store.set(V4ToV6, "0.0.0.0/8080", "fd00::2/8080")
	store.set(V4ToV4, "0.0.0.0/9090", "172.28.240.53/9090")
	got, keys, err := b.ListObscured(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []backend.Entry{tcp("0.0.0.0:9090", "172.28.240.53:9090")}) {
		t.Fatalf("ListObscured = %v, want only the entry on 9090", got)
	}
	want := tcp("0.0.0.0:8080", "172.28.240.53:8080").Key()
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("obscured keys %v, want [%v]", keys, want)
	}
}

// failureOf returns the failure of adding e that err, an *ApplyError,
// names.
func failureOf(err error, e backend.Entry) (backend.Failure, bool) {
	var ae *backend.ApplyError
	if !errors.As(err, &ae) {
		return backend.Failure{}, false
	}
	return ae.FailureFor(e.Key(), false)
}

// userEntryCase is a reconciler that made wslfwd's entry (mine), and a
// registry where the user then made, by hand, the very entry (users) a
// service about to listen on 3000 would get: the usual community script,
// `netsh interface portproxy add v4tov4 listenport=3000 ...
// connectaddress=<distro>`, run after the daemon last listed the registry.
type userEntryCase struct {
	b           *Backend
	store       *memStore
	netsh       *fakeNetsh
	r           *reconcile.Reconciler
	led         *ledger.Ledger
	mine, users backend.Entry
}

func newUserEntryCase(t *testing.T) *userEntryCase {
	t.Helper()
	c := &userEntryCase{mine: tcp("0.0.0.0:22", "172.28.240.53:22"), users: tcp("0.0.0.0:3000", "172.28.240.53:3000")}
	c.b, c.store, c.netsh = newFake()
	var err error
	if c.led, err = ledger.Open(t.TempDir(), "portproxy"); err != nil {
		t.Fatal(err)
	}
	c.r = reconcile.New(c.b, c.led, nil)
	c.r.Reconcile(t.Context(), reconcile.Plan{Want: c.want(c.mine)})
	c.store.set(V4ToV4, "0.0.0.0/3000", "172.28.240.53/3000")
	return c
}

// want is the plan's wants for es, all of one distro.
func (c *userEntryCase) want(es ...backend.Entry) []ledger.Record {
	var out []ledger.Record
	for _, e := range es {
		out = append(out, ledger.Record{Entry: e, Distro: "Ubuntu"})
	}
	return out
}

// listens runs the incremental run for port 3000 once its service
// listens, or (without users) once it stops.
func (c *userEntryCase) listens(t *testing.T, es ...backend.Entry) reconcile.Report {
	return c.r.Reconcile(t.Context(), reconcile.Plan{Want: c.want(es...), Keys: map[backend.Key]bool{c.users.Key(): true}})
}

// The reconciler's incremental run must not take the user's entry for its
// own: CONFLICT, not in the ledger, and still there after the service
// stops.
func TestUserEntryMadeBetweenRunsIsLeftAlone(t *testing.T) {
	c := newUserEntryCase(t)
	rep := c.listens(t, c.mine, c.users)
	if o := rep.Outcomes[c.users.Key()]; o.State != wslfwdv1.ForwardState_FORWARD_STATE_CONFLICT {
		t.Errorf("the user's entry: %v %q, want CONFLICT", o.State, o.Reason)
	}
	if slices.Contains(c.led.Entries(), c.users) {
		t.Fatalf("the ledger claims the user's entry: %v", c.led.Entries())
	}
	c.listens(t, c.mine)
	if got := list(t, c.b); !slices.Contains(got, c.users) || !slices.Contains(got, c.mine) {
		t.Fatalf("registry holds %v after the service stopped; want the user's entry and wslfwd's", got)
	}
}

// The same, when the batch that would add the entry fails before netsh
// runs (the registry could not be read): the entry found on the listing
// after the failure is the user's, not one the failed batch made.
func TestUserEntryFoundAfterABatchThatRanNothingIsLeftAlone(t *testing.T) {
	c := newUserEntryCase(t)
	c.store.mu.Lock()
	c.store.failReads = 1
	c.store.mu.Unlock()
	ran := len(c.netsh.scripts)
	rep := c.listens(t, c.mine, c.users)
	if len(c.netsh.scripts) != ran {
		t.Fatalf("netsh ran although the registry could not be read")
	}
	if rep.Err == nil {
		t.Error("the failed batch reported no error")
	}
	if slices.Contains(c.led.Entries(), c.users) {
		t.Fatalf("the ledger claims the user's entry: %v", c.led.Entries())
	}
	if !slices.Contains(c.led.Entries(), c.mine) {
		t.Fatalf("the ledger lost wslfwd's own entry: %v", c.led.Entries())
	}
}
