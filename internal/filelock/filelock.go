// Package filelock takes an exclusive lock on a file without waiting, so
// that a second process which would share what the file guards (a state
// directory, a socket path) can tell and refuse. The operating system
// lets go of the lock when the process ends, however it ends, so a crash
// leaves nothing to clean up.
package filelock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked is returned when another open file, in this process or
// another, holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock opens path (creating it owner-only) and locks it. The lock is held
// until the returned file is closed or the process ends.
func Lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := lock(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%s is %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
