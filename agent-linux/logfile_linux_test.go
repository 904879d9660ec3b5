package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The agent's log is appended to only when it is a regular file of the
// agent's own with one link, never through a symlink; a new one is 0600,
// and an older agent's 0644 log becomes 0600.
func TestOpenLogFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	if err := os.WriteFile(target, []byte("root:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := func(path, want string) {
		t.Helper()
		f, err := openLogFile(path)
		if err == nil {
			f.Close()
			t.Fatalf("%s: opened, want a refusal saying %q", path, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", path, err, want)
		}
	}

	fresh := filepath.Join(dir, "agent.log")
	f, err := openLogFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one\n")
	f.Close()
	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("older\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = openLogFile(old); err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	for path, want := range map[string]string{fresh: "one\n", old: "older\ntwo\n"} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != want || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %q, mode %v; want %q, 0600", path, b, fi.Mode().Perm(), want)
		}
	}

	link := filepath.Join(dir, "symlink.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	refused(link, "too many levels of symbolic links")
	hard := filepath.Join(dir, "hard.log")
	if err := os.Link(target, hard); err != nil {
		t.Fatal(err)
	}
	refused(hard, "2 links")
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without a reader, open fails at once (ENXIO) rather than wait for
	// one; with one, it is not a regular file.
	refused(fifo, "no such device or address")
	if b, _ := os.ReadFile(target); string(b) != "root:x\n" {
		t.Errorf("the file behind the links was written: %q", b)
	}
	if os.Geteuid() == 0 {
		theirs := filepath.Join(dir, "theirs.log")
		if err := os.WriteFile(theirs, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(theirs, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		refused(theirs, "owned by uid 4242")
	}
}
