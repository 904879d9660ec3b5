package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/ledger"
)

// TestIncrementalMatchesFull runs random changes of the wanted set through
// two reconcilers: one told only the keys that changed (incremental), the
// other always full. After every run both backends, both ledgers and the
// outcomes of the changed keys must be the same. As the engine does, a
// run after one with failures is full for both.
func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 16))
		foreign := entry(backend.TCP, "0.0.0.0:9", "10.0.0.9:9")
		inc, full := newFake(foreign), newFake(foreign)
		rInc := New(inc, ledger.NewMemory(), quiet)
		rFull := New(full, ledger.NewMemory(), quiet)
		var prev map[backend.Key]ledger.Record
		retry := true
		for step := range 30 {
			next := mutateWants(rng, prev)
			failing := map[backend.Key]error{}
			if rng.IntN(4) == 0 {
				failing[randomKey(rng)] = errors.New("refused")
			}
			inc.fail, full.fail = failing, maps.Clone(failing)
			inc.batchErr, full.batchErr = nil, nil
			if rng.IntN(8) == 0 {
				inc.batchErr, full.batchErr = errors.New("netsh died"), errors.New("netsh died")
				inc.batchApplies, full.batchApplies = 1, 1
			}
			p := Plan{Want: slices.Collect(maps.Values(next))}
			repFull := rFull.Reconcile(context.Background(), p)
			if !retry {
				p.Keys = changedKeys(rng, prev, next)
			}
			repInc := rInc.Reconcile(context.Background(), p)
			where := fmt.Sprintf("seed %d step %d", seed, step)
			if !maps.Equal(inc.entries, full.entries) {
				t.Fatalf("%s: backend %v, full %v", where, inc.entries, full.entries)
			}
			if a, b := rInc.Owned(), rFull.Owned(); !slices.Equal(a, b) {
				t.Fatalf("%s: ledger %v, full %v", where, a, b)
			}
			for k, o := range repInc.Outcomes {
				if repFull.Outcomes[k] != o {
					t.Fatalf("%s: %v is %v, full run says %v", where, k, o, repFull.Outcomes[k])
				}
			}
			retry = repFull.Err != nil
			for _, o := range repFull.Outcomes {
				retry = retry || o.State != wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE
			}
			prev = next
		}
	}
}

// randomKey is one of few keys, so that changes meet.
func randomKey(rng *rand.Rand) backend.Key {
	return backend.Key{Protocol: backend.TCP, Listen: netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(1+rng.IntN(9)))}
}

// mutateWants adds, drops or retargets a few wants of prev.
func mutateWants(rng *rand.Rand, prev map[backend.Key]ledger.Record) map[backend.Key]ledger.Record {
	next := maps.Clone(prev)
	if next == nil {
		next = map[backend.Key]ledger.Record{}
	}
	for range 1 + rng.IntN(3) {
		k := randomKey(rng)
		if rng.IntN(3) == 0 {
			delete(next, k)
			continue
		}
		target := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 28, 0, byte(1 + rng.IntN(2))}), k.Listen.Port())
		distro := []string{"Ubuntu", "Debian"}[rng.IntN(2)]
		next[k] = ledger.Record{Entry: backend.Entry{Protocol: k.Protocol, Listen: k.Listen, Connect: target}, Distro: distro}
	}
	return next
}

// changedKeys are the keys whose want changed, and a random other one, as
// the engine passes whole port groups.
func changedKeys(rng *rand.Rand, prev, next map[backend.Key]ledger.Record) map[backend.Key]bool {
	out := map[backend.Key]bool{randomKey(rng): true}
	for k, r := range prev {
		if next[k] != r {
			out[k] = true
		}
	}
	for k, r := range next {
		if prev[k] != r {
			out[k] = true
		}
	}
	return out
}

// A user who makes, after the last listing, the very entry wslfwd is
// about to add (the usual `netsh interface portproxy add` to the distro's
// address) keeps it: an incremental run, which trusts what it knows of
// the backend, finds it there when it adds, reports CONFLICT and neither
// records it nor, once the service stops, removes it.
func TestIncrementalLeavesAnEntryMadeMeanwhile(t *testing.T) {
	f := newFake(d22)
	r, dir := setup(t, f)
	r.Reconcile(context.Background(), wants(a80))

	f.entries[b443.Key()] = b443 // the user's netsh, between two runs
	rep := r.Reconcile(context.Background(), Plan{Want: wants(a80, b443).Want, Keys: map[backend.Key]bool{b443.Key(): true}})
	wantOutcome(t, rep, b443, conflictState, "held by an entry wslfwd does not own")
	if slices.Contains(r.Owned(), ledger.Record{Entry: b443}) {
		t.Fatalf("the ledger claims the user's entry: %v", r.Owned())
	}
	if _, l := reopen(t, f, dir); slices.ContainsFunc(l.Entries(), func(e backend.Entry) bool { return e == b443 }) {
		t.Fatalf("the ledger on disk claims the user's entry: %v", l.Entries())
	}

	lists := f.lists
	rep = r.Reconcile(context.Background(), Plan{Want: wants(a80).Want, Keys: map[backend.Key]bool{b443.Key(): true}})
	if f.lists == lists {
		t.Error("the run after the surprise trusted what it knew of the backend")
	}
	if !f.has(b443) || f.removed(b443) {
		t.Fatal("the user's entry was removed when the service stopped")
	}
	if !f.has(a80) {
		t.Fatal("wslfwd's own entry is gone")
	}
}
