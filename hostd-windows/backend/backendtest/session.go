package backendtest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

// opTimeout bounds each backend call the suite makes.
const opTimeout = 30 * time.Second

// session is one test's view of the backend: it makes entries on ports no
// other entry of the test uses, and removes what the test added when the
// test ends, so a persisting store is left as it was found.
type session struct {
	t     *testing.T
	h     Harness
	b     backend.Backend
	ports map[uint16]bool
	added map[backend.Key]backend.Entry
}

func start(t *testing.T, h Harness) *session {
	t.Helper()
	s := &session{
		t:     t,
		h:     h,
		ports: make(map[uint16]bool),
		added: make(map[backend.Key]backend.Entry),
	}
	s.b = h.New(t)
	t.Cleanup(s.cleanup)
	return s
}

// cleanup removes what the test added, from the running backend or, after
// a restart test closed it, from a new one, and closes that backend.
func (s *session) cleanup() {
	if s.b == nil {
		if len(s.added) == 0 || !s.h.PersistsAcrossRestart {
			return
		}
		s.b = s.h.New(s.t)
	}
	if len(s.added) > 0 {
		var rm []backend.Entry
		for _, e := range s.added {
			rm = append(rm, e)
		}
		err := withTimeout(func(ctx context.Context) error { return s.b.Apply(ctx, backend.Batch{Remove: rm}) })
		if err != nil {
			s.t.Errorf("clean up: remove the test's entries: %v", err)
		}
	}
	if err := s.b.Close(); err != nil {
		s.t.Errorf("clean up: close: %v", err)
	}
}

// reopen makes a new backend over the store of the closed one.
func (s *session) reopen() {
	s.t.Helper()
	s.b = s.h.New(s.t)
	if !s.h.PersistsAcrossRestart {
		clear(s.added)
	}
}

// close closes the backend, checking that Close succeeds.
func (s *session) close() {
	s.t.Helper()
	b := s.b
	s.b = nil
	if err := b.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
}

// port returns a free port no other entry of the test uses.
func (s *session) port() uint16 {
	s.t.Helper()
	for range 100 {
		p := s.h.FreePort(s.t)
		if p != 0 && !s.ports[p] {
			s.ports[p] = true
			return p
		}
	}
	s.t.Fatal("FreePort: no unused port after 100 tries")
	return 0
}

// target returns a new connect target for the protocol.
func (s *session) target(p backend.Protocol) netip.AddrPort {
	s.t.Helper()
	return newTarget(s.t, s.h, p)
}

func newTarget(t *testing.T, h Harness, p backend.Protocol) netip.AddrPort {
	t.Helper()
	a := h.ConnectTarget(t, p)
	if !a.IsValid() || a.Port() == 0 {
		t.Fatalf("ConnectTarget(%s) = %v: not an address and port", p, a)
	}
	return a
}

// entry returns a new entry on a free port with a new target. The target
// is made first, so that FreePort cannot hand out the target's port.
func (s *session) entry(p backend.Protocol) backend.Entry {
	s.t.Helper()
	to := s.target(p)
	return backend.Entry{Protocol: p, Listen: netip.AddrPortFrom(s.h.ListenAddr, s.port()), Connect: to}
}

// retarget returns e pointing at a new target.
func (s *session) retarget(e backend.Entry) backend.Entry {
	s.t.Helper()
	n := e
	n.Connect = s.target(e.Protocol)
	if n.Connect == e.Connect {
		s.t.Fatalf("ConnectTarget returned %v twice; it must return a new address on each call", e.Connect)
	}
	return n
}

// apply applies the batch and returns its failures; an error other than an
// *ApplyError fails the test.
func (s *session) apply(b backend.Batch) []backend.Failure {
	s.t.Helper()
	err := withTimeout(func(ctx context.Context) error { return s.b.Apply(ctx, b) })
	ae := &backend.ApplyError{}
	if err != nil && !errors.As(err, &ae) {
		s.t.Fatalf("Apply: %v (want nil or an *ApplyError)", err)
	}
	if err != nil && len(ae.Failures) == 0 {
		s.t.Fatalf("Apply returned an *ApplyError with no failures: %v", err)
	}
	for _, e := range b.Remove {
		if _, failed := ae.FailureFor(e.Key(), true); !failed && s.added[e.Key()] == e {
			delete(s.added, e.Key())
		}
	}
	for _, e := range b.Add {
		if _, failed := ae.FailureFor(e.Key(), false); !failed {
			s.added[e.Key()] = e
		}
	}
	return ae.Failures
}

// mustApply applies a batch that must succeed in full.
func (s *session) mustApply(b backend.Batch) {
	s.t.Helper()
	if f := s.apply(b); f != nil {
		s.t.Fatalf("Apply: %v", &backend.ApplyError{Failures: f})
	}
}

// add adds entries that must succeed.
func (s *session) add(es ...backend.Entry) { s.t.Helper(); s.mustApply(backend.Batch{Add: es}) }

// list returns the backend's entries, sorted.
func (s *session) list() []backend.Entry {
	s.t.Helper()
	var got []backend.Entry
	err := withTimeout(func(ctx context.Context) (err error) {
		got, err = s.b.List(ctx)
		return err
	})
	if err != nil {
		s.t.Fatalf("List: %v", err)
	}
	return sorted(got)
}

// wantList checks that List returns exactly the entries, in any order.
func (s *session) wantList(want ...backend.Entry) {
	s.t.Helper()
	got := s.list()
	if want := sorted(want); !slices.Equal(got, want) {
		s.t.Fatalf("List:\n got  %v\n want %v", got, want)
	}
}

// want describes an expected failure: the change, and the sentinel it
// must wrap (nil: any error).
type want struct {
	entry  backend.Entry
	remove bool
	is     error
}

// wantFailures checks that exactly the expected changes failed, each
// reported with its entry as given and its error wrapping the sentinel.
func (s *session) wantFailures(got []backend.Failure, want ...want) {
	s.t.Helper()
	if len(got) != len(want) {
		s.t.Errorf("Apply reported %d failure(s), want %d: %v", len(got), len(want), &backend.ApplyError{Failures: got})
	}
	ae := &backend.ApplyError{Failures: got}
	for _, w := range want {
		f, ok := ae.FailureFor(w.entry.Key(), w.remove)
		switch {
		case !ok:
			s.t.Errorf("Apply reported no failure for %s (remove=%v)", w.entry, w.remove)
		case f.Entry != w.entry:
			s.t.Errorf("failure for %s names entry %s", w.entry, f.Entry)
		case f.Err == nil:
			s.t.Errorf("failure for %s has no error", w.entry)
		case w.is != nil && !errors.Is(f.Err, w.is):
			s.t.Errorf("failure for %s: %v; want an error wrapping %q", w.entry, f.Err, w.is)
		}
	}
}

func sorted(es []backend.Entry) []backend.Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b backend.Entry) int {
		if a.Protocol != b.Protocol {
			if a.Protocol < b.Protocol {
				return -1
			}
			return 1
		}
		if c := a.Listen.Compare(b.Listen); c != 0 {
			return c
		}
		return a.Connect.Compare(b.Connect)
	})
	return out
}

// withTimeout runs one backend call with a bounded context. It does not
// use t.Context, which ends before the cleanups that still call the
// backend.
func withTimeout(call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return call(ctx)
}
