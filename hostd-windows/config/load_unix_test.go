//go:build !windows

package config

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A config that group or others may change is refused: it names the
// token files and the state directory. A FIFO is refused before it is
// opened, which would block until a writer came.
func TestLoadRefusesSharedFiles(t *testing.T) {
	dir := t.TempDir()
	wantLoadRefused(t, writeConfig(t, dir, "shared.toml", []byte("udp = true\n"), 0o664),
		"may be written by group or others (mode 0664)", "chmod 644")
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	wantLoadRefused(t, fifo, "not a regular file")
}
