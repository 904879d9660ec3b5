package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Uninstall's removal of the forwards: a state directory that is not
// there holds nothing the daemon made; one a running daemon holds is
// left to it, with why.
func TestRemoveOwnedForwardsAndTheStateDir(t *testing.T) {
	if n, err := removeOwnedForwards(t.Context(), filepath.Join(t.TempDir(), "never-made")); n != 0 || err != nil {
		t.Errorf("no state directory: %d removed, %v; want 0, nil", n, err)
	}
	dir := t.TempDir()
	lock, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	shortLockWait(t)
	if _, err := removeOwnedForwards(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "another wslfwd-hostd has used it") {
		t.Errorf("with a daemon holding the state directory: %v, want refused", err)
	}
}
