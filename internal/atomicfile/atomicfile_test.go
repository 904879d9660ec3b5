package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// A file open before Write keeps its old content (a running program keeps
// its binary); the path gets the new content and perm, and no temporary
// file is left.
func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := Write(path, []byte("new"), 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, _ := old.Read(buf); string(buf[:n]) != "old" {
		t.Errorf("the file open before reads %q, want old", buf[:n])
	}
	got, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(got) != "new" || fi.Mode().Perm() != 0o755 {
		t.Errorf("after Write: %q %v %v, want new with mode 0755", got, fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want only f", ents)
	}
}
