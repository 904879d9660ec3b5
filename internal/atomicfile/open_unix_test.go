//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// A file open before Write keeps its old content, as a running program
// keeps its binary while the agent's installer replaces it. Windows does
// not let a rename replace a file another handle holds open, so this is a
// Unix property and a Unix test.
func TestWriteLeavesOpenFileWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, _ := old.Read(buf); string(buf[:n]) != "old" {
		t.Errorf("the file open before reads %q, want old", buf[:n])
	}
}
