package statefile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWriteAtomicReplacesAndIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := WriteAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, ok, err := readFile(path)
	if err != nil || !ok || string(data) != "two" {
		t.Fatalf("ReadFile = %q, %v, %v; want \"two\", true, nil", data, ok, err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
	}
	assertOnlyFiles(t, filepath.Dir(path), "state.json")
}

func TestWriteAtomicFailureLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	if err := WriteAtomic(path, []byte("x"), 0o600); err == nil {
		t.Fatal("WriteAtomic into a missing directory succeeded")
	}
	assertOnlyFiles(t, dir)
}

func TestReadFileMissing(t *testing.T) {
	data, ok, err := readFile(filepath.Join(t.TempDir(), "nope"))
	if err != nil || ok || data != nil {
		t.Fatalf("readFile(missing) = %q, %v, %v; want nil, false, nil", data, ok, err)
	}
}

// A crash between creating the temporary file and the rename leaves the
// temporary file behind; the target keeps its old content and cleanTemps
// removes the leftover without touching other files.
func TestCleanTempsAfterCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".state.json.tmp-123")
	if err := os.WriteFile(leftover, []byte("half-writ"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".other.json.tmp-1")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data, _, err := readFile(path)
	if err != nil || string(data) != "old" {
		t.Fatalf("ReadFile = %q, %v; want old", data, err)
	}
	if err := cleanTemps(path); err != nil {
		t.Fatal(err)
	}
	assertOnlyFiles(t, dir, ".other.json.tmp-1", "state.json")
}

func TestMkdirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := mkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
	}
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("files in %s = %q, want %q", dir, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("files in %s = %q, want %q", dir, got, want)
		}
	}
}

// Load creates the missing directory owner-only, reads nothing from a
// missing file, and removes a crash's leftover before reading.
func TestLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "state.json")
	data, ok, err := Load(path)
	if err != nil || ok || data != nil {
		t.Fatalf("Load(missing) = %q, %v, %v; want nil, false, nil", data, ok, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Load did not create %s: %v", dir, err)
	}
	if err := WriteAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".state.json.tmp-9"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, ok, err = Load(path)
	if err != nil || !ok || string(data) != "old" {
		t.Fatalf("Load = %q, %v, %v; want old, true, nil", data, ok, err)
	}
	assertOnlyFiles(t, dir, "state.json")
}

func TestJSONRoundTripIsStrict(t *testing.T) {
	type format struct {
		Version int    `json:"version"`
		Name    string `json:"name"`
	}
	data := EncodeJSON(format{1, "x"})
	if want := "{\n  \"version\": 1,\n  \"name\": \"x\"\n}\n"; string(data) != want {
		t.Fatalf("EncodeJSON = %q, want %q", data, want)
	}
	var got format
	if err := DecodeJSON(data, &got); err != nil || got != (format{1, "x"}) {
		t.Fatalf("DecodeJSON = %+v, %v", got, err)
	}
	for _, bad := range []string{`{"version":1,"extra":2}`, `{"version":1} {}`, `{"version":1}}`, `{"version":1}]`, `{"version":1} x`, `{"version":`, ``} {
		var f format
		if err := DecodeJSON([]byte(bad), &f); err == nil {
			t.Errorf("DecodeJSON(%q) succeeded", bad)
		}
	}
}
