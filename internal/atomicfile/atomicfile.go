// Package atomicfile replaces files so that a crash or power loss at any
// moment leaves either the old content or the new content on disk, never a
// mix, and a program running from the old file keeps it.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TempInfix marks the temporary files Write creates next to their
// target: ".<name>.tmp-<random>". A crash can leave one behind; it never has
// the target's name, so readers ignore it (and the daemon's state files
// remove such leftovers when they load).
const TempInfix = ".tmp-"

// Write replaces path with data. It writes a temporary file in the same
// directory, syncs it, and renames it over path so that the rename
// itself is durable (replace). The file gets perm. On error path is unchanged
// and no temporary file is left.
func Write(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+TempInfix+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := replace(tmp, path, dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
