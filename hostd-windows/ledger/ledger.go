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
// A torn or corrupt ledger is an error that names the file. The daemon then
// refuses to start rather than guess: guessing "empty" would turn its own
// entries into foreign ones (left behind forever), guessing "everything"
// would delete a user's entries. To recover, inspect the file; if it cannot
// be repaired, delete it and remove any stale wslfwd entries by hand
// (`netsh interface portproxy show all`), then start the daemon again.
package ledger

import (
	"cmp"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/statefile"
)

// version is the file format version written. Version 2 added each
// entry's distro; version 1 files (no distro) are still read. A file with
// a newer version is refused: an older daemon must not misread a newer
// ledger.
const version = 2

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
}

// fileFormat is the JSON form of the ledger.
type fileFormat struct {
	Version int         `json:"version"`
	Entries []fileEntry `json:"entries"`
}

type fileEntry struct {
	Protocol backend.Protocol `json:"protocol"`
	Listen   string           `json:"listen"`
	Connect  string           `json:"connect"`
	Distro   string           `json:"distro,omitempty"` // from version 2
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
	l := &Ledger{path: path}
	if !ok {
		return l, nil
	}
	records, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("ledger %s is corrupt (%w); refusing to guess what wslfwd owns: repair or delete the file and remove stale wslfwd entries by hand", path, err)
	}
	l.records = records
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
	if l.path != "" {
		if err := statefile.WriteAtomic(l.path, Encode(next), 0o600); err != nil {
			return fmt.Errorf("save ledger: %w", err)
		}
	}
	l.records = next
	return nil
}

// Update records set (each replacing a record of the same entry) and
// forgets remove, as one change with Replace's guarantees: on disk first,
// an unchanged set is a no-op. It costs what the change touches in
// memory, so the engine can record one new forward without rebuilding the
// set; on disk the file is still written whole.
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
	for _, e := range remove {
		if i, ok := find(next, e); ok {
			next = slices.Delete(next, i, i+1)
		}
	}
	for _, r := range set {
		switch i, ok := find(next, r.Entry); {
		case !ok:
			next = slices.Insert(next, i, r)
		case r.Distro != "":
			next[i] = r
		}
	}
	if l.path != "" {
		if err := statefile.WriteAtomic(l.path, Encode(next), 0o600); err != nil {
			return fmt.Errorf("save ledger: %w", err)
		}
	}
	l.records = next
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

// Encode renders records in the file format of this version.
func Encode(records []Record) []byte {
	f := fileFormat{Version: version, Entries: make([]fileEntry, 0, len(records))}
	for _, r := range records {
		e := r.Entry
		f.Entries = append(f.Entries, fileEntry{e.Protocol, e.Listen.String(), e.Connect.String(), r.Distro})
	}
	return statefile.EncodeJSON(f)
}

// Decode parses a ledger file of version 1 or 2. Anything but a complete,
// valid file is an error: unknown fields, trailing data, bad addresses, a
// distro in a version 1 file.
func Decode(data []byte) ([]Record, error) {
	var f fileFormat
	if err := statefile.DecodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Version != 1 && f.Version != version {
		return nil, fmt.Errorf("version %d, this wslfwd reads versions 1 to %d", f.Version, version)
	}
	records := make([]Record, 0, len(f.Entries))
	for i, fe := range f.Entries {
		if f.Version == 1 && fe.Distro != "" {
			return nil, fmt.Errorf("entry %d: a distro in a version 1 file", i)
		}
		e, err := parseEntry(fe)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		records = append(records, Record{Entry: e, Distro: fe.Distro})
	}
	return normalize(records), nil
}

func parseEntry(fe fileEntry) (backend.Entry, error) {
	if fe.Protocol != backend.TCP && fe.Protocol != backend.UDP {
		return backend.Entry{}, fmt.Errorf("protocol %q is not tcp or udp", fe.Protocol)
	}
	listen, err := parseAddrPort(fe.Listen)
	if err != nil {
		return backend.Entry{}, fmt.Errorf("listen: %w", err)
	}
	connect, err := parseAddrPort(fe.Connect)
	if err != nil {
		return backend.Entry{}, fmt.Errorf("connect: %w", err)
	}
	return backend.Entry{Protocol: fe.Protocol, Listen: listen, Connect: connect}, nil
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s: port 0", s)
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%s: zoned address", s)
	}
	return ap, nil
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
