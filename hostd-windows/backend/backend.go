// Package backend defines what carries forwards on the host, as the
// reconciler sees it: portproxy on Windows, the userspace relay elsewhere.
// Every implementation passes the conformance suite in backendtest.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Protocol is a transport protocol a backend may carry.
type Protocol string

// The protocols.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Entry is one forward: connections to Listen are carried to Connect.
type Entry struct {
	Protocol Protocol
	Listen   netip.AddrPort
	Connect  netip.AddrPort
}

// Key identifies an entry: a host holds at most one entry per protocol and
// listen address:port.
type Key struct {
	Protocol Protocol
	Listen   netip.AddrPort
}

// Key returns the entry's key.
func (e Entry) Key() Key { return Key{e.Protocol, e.Listen} }

// String renders the entry as "tcp 0.0.0.0:80 -> 172.28.240.53:80".
func (e Entry) String() string {
	return fmt.Sprintf("%s %s -> %s", e.Protocol, e.Listen, e.Connect)
}

// String renders the key as "tcp 0.0.0.0:80".
func (k Key) String() string { return fmt.Sprintf("%s %s", k.Protocol, k.Listen) }

// Batch is a set of changes applied together. Removals are applied before
// additions, so a batch may move a key to a new target by removing the old
// entry and adding the new one.
type Batch struct {
	Remove []Entry
	Add    []Entry
}

// Empty reports whether the batch changes nothing.
func (b Batch) Empty() bool { return len(b.Remove) == 0 && len(b.Add) == 0 }

// Backend applies forwards and reports what exists.
type Backend interface {
	// Name is the backend's name as users see it: "portproxy", "relay".
	Name() string
	// Supports reports whether the backend can carry the protocol.
	Supports(Protocol) bool
	// Durable reports whether the backend's entries outlive the daemon's
	// process: true for portproxy (entries live in the host's
	// configuration), false for the relay (forwards are sockets of the
	// daemon and end with it). It decides where the reconciler records
	// what it owns. A durable backend's ownership ledger is written to
	// the state directory before every new entry, so that after a crash
	// the daemon still knows which entries are its own and never touches
	// anyone else's. A backend that is not durable holds nothing after a
	// restart, so a record on disk would have nothing to adopt: its ledger
	// stays in memory, and its new forwards neither wait for a sync nor
	// fail when the state directory cannot be written.
	//
	// Claiming false for entries that do persist would leak them: after a
	// restart the daemon would take its own entries for foreign ones.
	Durable() bool
	// List returns every entry that exists now, including entries the
	// daemon does not own. It is the truth the reconciler works from.
	List(ctx context.Context) ([]Entry, error)
	// Apply makes the batch's changes. It returns nil when every change
	// took effect, an *ApplyError naming each change that did not, or
	// another error when the batch as a whole could not be attempted.
	//
	// A removal must match the whole entry: removing a key that holds
	// nothing succeeds, removing a key that holds a different target fails
	// and leaves that entry alone. Adding an entry that exists already
	// fails with ErrExists and changes nothing: the caller added it because
	// it did not know of it, so it is not the caller's (a user may make the
	// very entry the daemon would); adding at a key that holds a different
	// target (the daemon's or anyone else's) fails with ErrPortInUse. So a
	// backend never overwrites a rule it was not asked to remove, nor lets
	// its caller take one for its own.
	Apply(ctx context.Context, b Batch) error
	// Close releases the backend's own resources. What happens to the
	// entries depends on Durable: a durable backend's entries persist (a
	// daemon restart must not drop them), the others end with Close.
	Close() error
}

// Obscurer is implemented by a backend that can hold values it cannot read
// as entries, which List leaves out: a portproxy value in a form netsh
// would not write, or one listen address and port in two tables, of which
// only one is in effect. An entry wslfwd made can be one of them (its key
// put in a second table by hand), so the reconciler does not take an
// entry it owns at such a key for gone, which would make it foreign once
// the other value goes.
type Obscurer interface {
	// ListObscured is List, with the keys that values the backend cannot
	// read as entries sit at, from the same reading. An entry may be
	// listed at such a key too (the one in effect): an owned entry there
	// that is not the one listed is still owned.
	ListObscured(ctx context.Context) ([]Entry, []Key, error)
}

// Verifier is implemented by a backend whose entries can exist without
// carrying connections. A portproxy entry is a registry value; only the IP
// Helper service listening on its address makes it a forward, and with
// that service stopped the value stays while nothing listens. The
// reconciler calls it for every entry it would report ACTIVE, so ACTIVE
// means the forward works, not only that its entry exists.
type Verifier interface {
	// Verify returns, for each of entries (all present in the backend)
	// that does not carry connections, why; an entry not in the map
	// works. When it cannot tell, every entry gets the reason: ACTIVE is
	// never a guess.
	Verify(ctx context.Context, entries []Entry) map[Entry]error
}

// Errors a backend wraps in a Failure so the reconciler can say why.
var (
	// ErrPortInUse: another process holds the listen port.
	ErrPortInUse = errors.New("port already in use on the host")
	// ErrExists: the very entry to add exists already, not made by
	// this addition.
	ErrExists = errors.New("the entry exists already")
	// ErrExcludedPort: the port lies in a reserved (excluded) port range.
	ErrExcludedPort = errors.New("port inside an excluded port range")
	// ErrUnsupported: the backend cannot carry the protocol or family.
	ErrUnsupported = errors.New("not supported by this backend")
	// ErrNotApplied: the backend claimed success but reading it back shows
	// the change did not happen.
	ErrNotApplied = errors.New("change not found when read back")
	// ErrNothingChanged marks an Apply that failed as a whole before it
	// changed anything: an entry found afterwards is not the batch's.
	ErrNothingChanged = errors.New("nothing was changed")
)

// Failure is one change that did not take effect.
type Failure struct {
	Entry  Entry
	Remove bool // true for a failed removal, false for a failed addition
	Err    error
}

// ApplyError lists the changes of a batch that failed.
type ApplyError struct {
	Failures []Failure
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d change(s) failed", len(e.Failures))
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-i)
			break
		}
		op := "add"
		if f.Remove {
			op = "remove"
		}
		fmt.Fprintf(&b, "; %s %s: %v", op, f.Entry, f.Err)
	}
	return b.String()
}

// FailureFor returns the failure recorded for the entry's key and
// direction, if any.
func (e *ApplyError) FailureFor(k Key, remove bool) (Failure, bool) {
	for _, f := range e.Failures {
		if f.Entry.Key() == k && f.Remove == remove {
			return f, true
		}
	}
	return Failure{}, false
}
