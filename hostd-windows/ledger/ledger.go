// Package ledger records which backend entries wslfwd created, so that the
// reconciler only ever changes or removes its own entries and, after a
// restart, can adopt them again. Each entry is recorded with the distro it
// forwards to, so that a restarted daemon can hold it until that distro's
// agent is back (package daemon).
//
// Only a durable backend's ledger (backend.Backend.Durable: portproxy) lives
// on disk, in <state dir>/ledger-<backend>.json, one file per backend so
// that switching backends does not make wslfwd forget portproxy entries it
// made. Every change is synced before it counts, since after a crash the
// file is the only record of what wslfwd owns. A backend whose entries end
// with the daemon (the relay) gets a ledger in memory: after a restart
// there is nothing to adopt, so a file would only add syncs to every new
// forward and make forwards fail when the state directory cannot be
// written. For picks the kind.
//
// The file is a journal of changes, one line each (file.go), so that a
// change costs one append and one sync whatever the number of entries
// owned. A corrupt ledger is an error that names the file (a last line cut
// short by a crash is not corruption: the change it held was never acted
// on, and it is ignored). The daemon then refuses to start rather than
// guess: guessing "empty" would turn its own
// entries into foreign ones (left behind forever), guessing "everything"
// would delete a user's entries. To recover, inspect the file; if it cannot
// be repaired, delete it and remove any stale wslfwd entries by hand
// (`netsh interface portproxy show all`), then start the daemon again.
package ledger

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/statefile"
)

// Record is one entry wslfwd owns and the distro it forwards to. The
// distro is what lets a restarted daemon hold the entry for that distro's
// agent instead of removing it (package daemon); it is empty for entries
// recorded by a wslfwd that did not record it (a version 1 file).
type Record struct {
	Entry  backend.Entry
	Distro string
}

// Ledger is the set of entries wslfwd owns. It may hold two entries with the
// same key while a forward moves to a new target: whichever of them the
// backend holds is wslfwd's. Safe for concurrent use.
type Ledger struct {
	path string // empty: kept in memory only

	mu      sync.Mutex
	records []Record // sorted, one per entry
	// The file's length, and that of its last whole write (or, for a
	// file opened, of one holding what it holds): the journal is
	// rewritten once it is past twice that.
	size, whole int
	rewrite     bool // the next write must be whole: no file, an older version, a line cut short, a failed append
}

// For returns the ledger for b: Open's file in dir when b is durable,
// otherwise NewMemory's. A ledger-<name>.json that an older wslfwd wrote for
// a backend that is not durable (ledger-relay.json) is ignored, not even
// read: the entries it names ended with the daemon that wrote it, so it can
// only be stale, and a torn one must not stop the daemon from starting. It
// is not removed either, since that would need the writable state
// directory this avoids depending on; delete it at will.
func For(dir string, b backend.Backend) (*Ledger, error) {
	if !b.Durable() {
		return NewMemory(), nil
	}
	return Open(dir, b.Name())
}

// NewMemory returns an empty ledger kept in memory only, whose Replace
// never fails: for a backend whose entries end with the daemon.
func NewMemory() *Ledger { return &Ledger{} }

// Open loads the ledger of the named backend from dir, creating dir
// (owner-only) if needed. A missing file is an empty ledger. Temporary
// files left by a crash during an earlier write are removed.
func Open(dir, backendName string) (*Ledger, error) {
	if backendName == "" || filepath.Base(backendName) != backendName {
		return nil, fmt.Errorf("open ledger: invalid backend name %q", backendName)
	}
	path := filepath.Join(dir, "ledger-"+backendName+".json")
	data, ok, err := statefile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	l := &Ledger{path: path, rewrite: true}
	if !ok {
		return l, nil
	}
	d, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("ledger %s is corrupt (%w); refusing to guess what wslfwd owns: repair or delete the file and remove stale wslfwd entries by hand", path, err)
	}
	l.records, l.rewrite = d.records, d.rewrite
	l.size, l.whole = len(data), len(Encode(d.records))
	return l, nil
}

// Path is the ledger file's path, for messages; empty for a ledger in
// memory.
func (l *Ledger) Path() string { return l.path }

// Entries returns a copy of the owned entries, sorted.
func (l *Ledger) Entries() []backend.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]backend.Entry, len(l.records))
	for i, r := range l.records {
		out[i] = r.Entry
	}
	return out
}

// Records returns a copy of the owned entries with their distros, sorted.
func (l *Ledger) Records() []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.records)
}

// Replace makes records the owned set, on disk first (unless the ledger is
// in memory only): when the write fails the ledger in memory is unchanged.
// Writing an unchanged set is a no-op. An entry given twice is kept once,
// with a distro if either names one.
func (l *Ledger) Replace(records []Record) error {
	next := normalize(records)
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Equal(next, l.records) {
		return nil
	}
	if err := l.writeWhole(next); err != nil {
		return err
	}
	l.records = next
	return nil
}

// Update records set (each replacing a record of the same entry) and
// forgets remove, as one change with Replace's guarantees: on disk first,
// an unchanged set is a no-op. It costs what the change touches: in
// memory, so the engine can record one new forward without rebuilding the
// set, and on disk, where it appends one line to the journal.
func (l *Ledger) Update(set []Record, remove []backend.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !changes(l.records, set, remove) {
		return nil
	}
	next := l.records
	if l.path != "" {
		next = slices.Clone(next) // the memory stays as it is if the write fails
	}
	next = apply(next, set, remove)
	if err := l.writeChange(next, set, remove); err != nil {
		return err
	}
	l.records = next
	return nil
}

// apply removes remove from records and sets set, in place: each record
// set replaces the one of its entry, unless it names no distro.
func apply(records []Record, set []Record, remove []backend.Entry) []Record {
	for _, e := range remove {
		if i, ok := find(records, e); ok {
			records = slices.Delete(records, i, i+1)
		}
	}
	for _, r := range set {
		switch i, ok := find(records, r.Entry); {
		case !ok:
			records = slices.Insert(records, i, r)
		case r.Distro != "":
			records[i] = r
		}
	}
	return records
}

// writeChange records the change that makes next on disk, as one line
// appended to the journal, or by writing next whole when the file needs it
// or the journal has grown past twice what a whole write takes.
func (l *Ledger) writeChange(next, set []Record, remove []backend.Entry) error {
	if l.path == "" {
		return nil
	}
	line := encodeChange(set, remove)
	if l.rewrite || l.size+len(line) > 2*l.whole+minJournal {
		return l.writeWhole(next)
	}
	if err := appendLine(l.path, line); err != nil {
		// The line may be on disk in part: only a whole write may follow.
		l.rewrite = true
		return fmt.Errorf("save ledger %s: %w", l.path, err)
	}
	l.size += len(line)
	return nil
}

// minJournal is how far the journal may grow past a whole write before it
// is rewritten, however few the entries.
const minJournal = 64 << 10

// writeWhole replaces the file with next.
func (l *Ledger) writeWhole(next []Record) error {
	if l.path == "" {
		return nil
	}
	data := Encode(next)
	if err := statefile.WriteAtomic(l.path, data, 0o600); err != nil {
		return fmt.Errorf("save ledger: %w", err)
	}
	l.size, l.whole, l.rewrite = len(data), len(data), false
	return nil
}

// changes reports whether Update(set, remove) would change records.
func changes(records, set []Record, remove []backend.Entry) bool {
	for _, e := range remove {
		if _, ok := find(records, e); ok {
			return true
		}
	}
	for _, r := range set {
		i, ok := find(records, r.Entry)
		if !ok || r.Distro != "" && records[i].Distro != r.Distro {
			return true
		}
	}
	return false
}

// find returns the index of e's record in sorted records, or where it
// would go.
func find(records []Record, e backend.Entry) (int, bool) {
	return slices.BinarySearchFunc(records, e, func(r Record, e backend.Entry) int { return Compare(r.Entry, e) })
}

// normalize sorts records and keeps one per entry (the first with a
// distro, if any names one), so equal sets compare equal and the file's
// content is stable.
func normalize(records []Record) []Record {
	out := slices.Clone(records)
	slices.SortFunc(out, func(a, b Record) int {
		// Distros in descending order: an empty one comes last.
		return cmp.Or(Compare(a.Entry, b.Entry), cmp.Compare(b.Distro, a.Distro))
	})
	return slices.CompactFunc(out, func(a, b Record) bool { return a.Entry == b.Entry })
}

// Compare orders entries by protocol, listen port, listen address, then
// target: the order in which they are listed to people.
func Compare(a, b backend.Entry) int {
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Listen.Port(), b.Listen.Port()); c != 0 {
		return c
	}
	if c := a.Listen.Addr().Compare(b.Listen.Addr()); c != 0 {
		return c
	}
	return a.Connect.Compare(b.Connect)
}
