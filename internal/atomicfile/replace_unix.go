//go:build !windows

package atomicfile

import (
	"fmt"
	"os"
)

// replace renames tmp over path, then syncs dir, path's directory, so that
// the rename itself survives a power loss.
func replace(tmp, path, dir string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		// The new content is in place; only its durability across a power
		// loss is in doubt. Report it: the caller decides.
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
