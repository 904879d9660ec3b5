package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Write replaces the path's content and leaves no temporary file. The
// mode is checked where the file system keeps one (not on Windows, where
// only the read-only bit exists).
func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new" {
		t.Errorf("after Write: %q %v, want new", got, err)
	}
	if fi, err := os.Stat(path); runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o755) {
		t.Errorf("after Write: mode %v %v, want 0755", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want only f", ents)
	}
}
