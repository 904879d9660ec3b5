// Package ledger records which backend entries wslfwd created, so that the
// reconciler only ever changes or removes its own entries and, after a
// restart, can adopt them again.
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

// version is the file format version. A file with another version is
// refused: an older daemon must not misread a newer ledger.
const version = 1

// Ledger is the set of entries wslfwd owns. It may hold two entries with the
// same key while a forward moves to a new target: whichever of them the
// backend holds is wslfwd's. Safe for concurrent use.
type Ledger struct {
	path string // empty: kept in memory only

	mu      sync.Mutex
	entries []backend.Entry // sorted, no exact duplicates
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
	entries, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("ledger %s is corrupt (%w); refusing to guess what wslfwd owns: repair or delete the file and remove stale wslfwd entries by hand", path, err)
	}
	l.entries = entries
	return l, nil
}

// Path is the ledger file's path, for messages; empty for a ledger in
// memory.
func (l *Ledger) Path() string { return l.path }

// Entries returns a copy of the owned entries, sorted.
func (l *Ledger) Entries() []backend.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// Replace makes entries the owned set, on disk first (unless the ledger is
// in memory only): when the write fails the ledger in memory is unchanged.
// Writing an unchanged set is a no-op.
func (l *Ledger) Replace(entries []backend.Entry) error {
	next := normalize(entries)
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.Equal(next, l.entries) {
		return nil
	}
	if l.path != "" {
		if err := statefile.WriteAtomic(l.path, Encode(next), 0o600); err != nil {
			return fmt.Errorf("save ledger: %w", err)
		}
	}
	l.entries = next
	return nil
}

// Encode renders entries in the file format.
func Encode(entries []backend.Entry) []byte {
	f := fileFormat{Version: version, Entries: make([]fileEntry, 0, len(entries))}
	for _, e := range entries {
		f.Entries = append(f.Entries, fileEntry{e.Protocol, e.Listen.String(), e.Connect.String()})
	}
	return statefile.EncodeJSON(f)
}

// Decode parses a ledger file. Anything but a complete, valid file of this
// version is an error: unknown fields, trailing data, bad addresses.
func Decode(data []byte) ([]backend.Entry, error) {
	var f fileFormat
	if err := statefile.DecodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Version != version {
		return nil, fmt.Errorf("version %d, this wslfwd reads version %d", f.Version, version)
	}
	entries := make([]backend.Entry, 0, len(f.Entries))
	for i, fe := range f.Entries {
		e, err := parseEntry(fe)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		entries = append(entries, e)
	}
	return normalize(entries), nil
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

// normalize sorts entries and drops exact duplicates, so equal sets compare
// equal and the file's content is stable.
func normalize(entries []backend.Entry) []backend.Entry {
	out := slices.Clone(entries)
	slices.SortFunc(out, Compare)
	return slices.Compact(out)
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
