package filelock

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A second lock of the path fails with ErrLocked while the first is held,
// also from the same process, and succeeds once it is let go.
func TestLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := Lock(path); !errors.Is(err, ErrLocked) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	f.Close()
	g, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after the first was let go: %v", err)
	}
	g.Close()
}

// LockWait waits for a lock its holder lets go of meanwhile, and gives up
// with ErrLocked on one held throughout.
func TestLockWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := LockWait(path, 50*time.Millisecond, 10*time.Millisecond); !errors.Is(err, ErrLocked) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("lock held throughout: %v, want ErrLocked", err)
	}
	got := make(chan error, 1)
	go func() {
		g, err := LockWait(path, time.Minute, 10*time.Millisecond)
		if err == nil {
			g.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("LockWait returned %v while the lock was held", err)
	case <-time.After(100 * time.Millisecond):
	}
	f.Close()
	if err := <-got; err != nil {
		t.Fatalf("lock let go of while waiting: %v", err)
	}
}
