package filelock

import (
	"errors"
	"path/filepath"
	"testing"
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
