package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/wslfwd/wslfwd/hostd-windows/backend"
	"github.com/wslfwd/wslfwd/hostd-windows/statefile"
)

// The file is a journal, so that recording one change costs one append and
// one sync, whatever the number of entries owned; rewriting the whole set
// for each change cost 2.4 ms a change with 1,000 entries on the lab's
// disk, against 0.6 ms with none. It is JSON Lines (version 3):
//
//	{"version":3}
//	{"set":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"172.28.240.53:80","distro":"Ubuntu"}]}
//	{"remove":[{"protocol":"tcp","listen":"0.0.0.0:80","connect":"172.28.240.53:80"}]}
//
// The header, then one line per change, applied in order. A change is one
// line, so it is recorded whole or not at all. Every line ends with a
// newline, and a line is appended and synced in one write before the
// change counts; so a last line without its newline is a change cut short
// by a crash, whose sync never returned and which nothing acted on: it is
// ignored, and the next write rewrites the file. Anything else that does
// not read back exactly is corruption. The journal is rewritten whole (one
// line holding every record, replacing the file atomically) when it has
// grown past twice that size, so its length stays proportional to what is
// owned. Versions 1 and 2 were one JSON document holding every entry; they
// are still read, and rewritten as version 3 at the first change.
const version = 3

// header is a version 3 file's first line.
var header = []byte(`{"version":3}` + "\n")

// fileEntry is an entry as files of every version write it.
type fileEntry struct {
	Protocol backend.Protocol `json:"protocol"`
	Listen   string           `json:"listen"`
	Connect  string           `json:"connect"`
	Distro   string           `json:"distro,omitempty"` // from version 2
}

// change is one line after the header: records set and entries removed.
type change struct {
	Set    []fileEntry `json:"set,omitempty"`
	Remove []fileEntry `json:"remove,omitempty"`
}

// document is the whole of a version 1 or 2 file.
type document struct {
	Version int         `json:"version"`
	Entries []fileEntry `json:"entries"`
}

// decoded is what a file holds, and whether the next write must rewrite it
// whole instead of appending: it is of an older version, or its last line
// was cut short.
type decoded struct {
	records []Record
	rewrite bool
}

// decode parses a ledger file. Anything but a file this version wrote (or
// a version 1 or 2 file) is an error: unknown fields, trailing data, bad
// addresses, a distro in a version 1 file, a line that is not a change.
// Only a version 3 file's last line may be cut short: it is ignored.
func decode(data []byte) (decoded, error) {
	body, ok := bytes.CutPrefix(data, header)
	if !ok {
		records, err := decodeDocument(data)
		return decoded{records: records, rewrite: true}, err
	}
	var d decoded
	for n := 1; len(body) > 0; n++ {
		line, rest, complete := bytes.Cut(body, []byte("\n"))
		if !complete {
			d.rewrite = true // a change cut short by a crash
			break
		}
		var c change
		if err := statefile.DecodeJSON(line, &c); err != nil {
			return decoded{}, fmt.Errorf("line %d: %w", n+1, err)
		}
		set, remove, err := c.parse()
		if err != nil {
			return decoded{}, fmt.Errorf("line %d: %w", n+1, err)
		}
		d.records = apply(d.records, set, remove)
		body = rest
	}
	return d, nil
}

// decodeDocument parses a version 1 or 2 file.
func decodeDocument(data []byte) ([]Record, error) {
	var f document
	if err := statefile.DecodeJSON(data, &f); err != nil {
		return nil, err
	}
	switch f.Version {
	case 1, 2:
	case version:
		return nil, fmt.Errorf("a version %d file must start with the line %s", version, bytes.TrimSpace(header))
	default:
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

// parse checks every entry of c. An entry removed names no distro.
func (c change) parse() (set []Record, remove []backend.Entry, err error) {
	if len(c.Set) == 0 && len(c.Remove) == 0 {
		return nil, nil, errors.New("a change that changes nothing")
	}
	for i, fe := range c.Set {
		e, err := parseEntry(fe)
		if err != nil {
			return nil, nil, fmt.Errorf("set %d: %w", i, err)
		}
		set = append(set, Record{Entry: e, Distro: fe.Distro})
	}
	for i, fe := range c.Remove {
		e, err := parseEntry(fe)
		if err == nil && fe.Distro != "" {
			err = errors.New("a distro on an entry removed")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("remove %d: %w", i, err)
		}
		remove = append(remove, e)
	}
	return set, remove, nil
}

// Encode renders records as a whole file of this version.
func Encode(records []Record) []byte {
	out := bytes.Clone(header)
	if len(records) == 0 {
		return out
	}
	return append(out, encodeChange(records, nil)...)
}

// encodeChange renders one change as its line.
func encodeChange(set []Record, remove []backend.Entry) []byte {
	var c change
	for _, r := range set {
		c.Set = append(c.Set, toFile(r.Entry, r.Distro))
	}
	for _, e := range remove {
		c.Remove = append(c.Remove, toFile(e, ""))
	}
	line, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode a change: %v", err)) // strings only: cannot fail
	}
	return append(line, '\n')
}

func toFile(e backend.Entry, distro string) fileEntry {
	return fileEntry{e.Protocol, e.Listen.String(), e.Connect.String(), distro}
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

// appendLine appends line to the file at path and syncs it. The file must
// exist: only a whole write (statefile.WriteAtomic) creates it, so that its
// header and directory entry are durable before any change is appended.
func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
