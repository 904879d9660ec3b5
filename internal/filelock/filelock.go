// Package filelock takes an exclusive lock on a file, so that a second
// process which would share what the file guards (a state directory, a
// socket path) can tell and refuse. The operating system lets go of the
// lock when the process ends, however it ends, so a crash leaves nothing
// to clean up; but Windows may take its time (LockWait).
package filelock

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrLocked is returned when another open file, in this process or
// another, holds the lock.
var ErrLocked = errors.New("locked by another process")

// LockWait is Lock, trying again every retry until wait has passed while
// another process holds the lock. Windows lets go of the locks of a process
// that ended "in a time that depends upon available system resources"
// (LockFileEx), and a service manager restarts a crashed service at once:
// the new process must not fail for a lock no live process holds.
func LockWait(path string, wait, retry time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := Lock(path)
		if !errors.Is(err, ErrLocked) || time.Now().Add(retry).After(deadline) {
			return f, err
		}
		time.Sleep(retry)
	}
}

// Lock opens path (creating it owner-only) and locks it, without waiting.
// The lock is held until the returned file is closed or the process ends.
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
