package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The packaged unit is the repository's, with only ExecStart moved to the
// packaged binary.
func TestPackagedUnit(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", agentUnitSource))
	if err != nil {
		t.Fatal(err)
	}
	path, err := packagedUnit(filepath.Join("..", ".."), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(src), "\nExecStart=/usr/local/bin/wslfwd-agent ", "\nExecStart=/usr/bin/wslfwd-agent ", 1)
	if string(got) != want || want == string(src) {
		t.Errorf("packaged unit:\n%s\nwant the source with ExecStart=/usr/bin/wslfwd-agent:\n%s", got, want)
	}
}

// A unit that no longer starts the agent from /usr/local/bin is refused, not
// shipped unchanged.
func TestPackagedUnitRefusesOtherExecStart(t *testing.T) {
	root := t.TempDir()
	unit := filepath.Join(root, agentUnitSource)
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		"[Service]\nExecStart=/opt/wslfwd-agent run\n",
		"[Service]\nExecStart=/usr/local/bin/wslfwd-agent run\nExecStart=/usr/local/bin/wslfwd-agent run\n",
	} {
		if err := os.WriteFile(unit, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if _, err := packagedUnit(root, out); err == nil || !strings.Contains(err.Error(), "want exactly one line") {
			t.Errorf("unit %q: %v, want a refusal", body, err)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("unit %q: refused, yet wrote %v", body, ents)
		}
	}
}
