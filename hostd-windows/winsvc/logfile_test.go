package winsvc

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenStderrAppendsAndRotatesAtStart(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		t.Helper()
		f, err := OpenStderr(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, StderrFileName)
	write("one\n")
	write("two\n")
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Fatalf("log = %q, want both lines appended", b)
	}
	big := bytes.Repeat([]byte("x"), maxStderrSize+1)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	write("fresh\n")
	if b, _ := os.ReadFile(path); string(b) != "fresh\n" {
		t.Errorf("log after rotation = %d bytes, want only the new line", len(b))
	}
	if fi, err := os.Stat(path + ".1"); err != nil || fi.Size() != int64(len(big)) {
		t.Errorf("rotated log: %v, %v", fi, err)
	}
}
