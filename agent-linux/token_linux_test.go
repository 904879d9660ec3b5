//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := checkTokenFile(path); err != nil {
		t.Errorf("a missing token file is the session's to wait for, got %v", err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("a", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkTokenFile(path); err != nil {
		t.Errorf("mode 0600 refused: %v", err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o606, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		err := checkTokenFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || !strings.HasPrefix(err.Error(), "token file: ") {
			t.Errorf("mode %04o: err = %v, want a refusal saying chmod 600 %s", mode, err, path)
		}
	}
}
