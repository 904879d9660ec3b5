// Package statefile reads and writes the daemon's small state files
// (ownership ledger, static forwards): versioned JSON, read strictly, and
// written so that a crash or power loss at any moment leaves either the old
// content or the new content on disk, never a mix.
package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslfwd/wslfwd/internal/atomicfile"
)

// WriteAtomic replaces path with data so that a crash leaves the old
// content or the new, never a mix (atomicfile.Write). Use perm 0o600:
// state files are owner-only.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

// Load prepares to read the state file at path and reads it: it creates the
// file's directory owner-only if missing, removes temporary files a crashed
// WriteAtomic left behind (best effort: readers never look at them), and
// returns the content. A missing file returns ok false: no state yet.
func Load(path string) (data []byte, ok bool, err error) {
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return nil, false, err
	}
	_ = cleanTemps(path)
	return readFile(path)
}

// EncodeJSON renders v as indented JSON ending in a newline, the form of
// every state file (people read them when something goes wrong). State
// formats hold only strings, numbers and slices of them, so a marshalling
// error is a bug and panics.
func EncodeJSON(v any) []byte {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("statefile: encode %T: %v", v, err))
	}
	return append(data, '\n')
}

// DecodeJSON parses data into v strictly: an unknown field or data after
// the value is an error. A state file that does not read back exactly is
// corrupt, and the daemon must not guess what it owns.
func DecodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	// More would miss a closing bracket after the value: it reports only
	// whether another value follows.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("decode: trailing data")
	}
	return nil
}

// readFile reads path. A missing file is not an error: it returns nil data
// and ok false, which callers treat as "no state yet".
func readFile(path string) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return data, true, nil
}

// cleanTemps removes temporary files a crashed WriteAtomic left next to
// path. Their content was never committed, so they are garbage. Failures are
// returned but harmless: readers never look at temporary files.
func cleanTemps(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean temporary files of %s: %w", path, err)
	}
	var errs []error
	prefix := "." + base + atomicfile.TempInfix
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean temporary files of %s: %w", path, err)
	}
	return nil
}

// mkdirPrivate creates dir (and parents) if missing, owner-only. It does not
// change the mode of a directory that already exists: an administrator may
// have set it deliberately.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}
