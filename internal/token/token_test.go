package token

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func TestLoadOrCreateMakesOwnerOnlyTokenOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin.token")
	tok, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate = %q, %v, %v; want a new token", tok, created, err)
	}
	if len(tok) != 64 {
		t.Errorf("token length %d, want 64 hex characters", len(tok))
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("token file mode %o, want 600", perm)
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm != 0o700 {
			t.Errorf("token directory mode %o, want 700", perm)
		}
	}
	again, created, err := LoadOrCreate(path)
	if err != nil || created || again != tok {
		t.Fatalf("second LoadOrCreate = %q, %v, %v; want the same token, not created", again, created, err)
	}
}

func TestLoadOrCreateConcurrentAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	const n = 8
	toks := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, _, err := LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	for _, tok := range toks[1:] {
		if tok != toks[0] {
			t.Fatalf("concurrent callers got different tokens: %q vs %q", tok, toks[0])
		}
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"empty":     "",
		"short":     "abc123",
		"spaces":    strings.Repeat("a", 20) + " " + strings.Repeat("b", 20),
		"nonascii":  strings.Repeat("é", 40),
		"oversized": strings.Repeat("a", maxLen+10),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if tok, err := Load(p); err == nil {
				t.Fatalf("Load accepted %q", tok)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file: err = %v, want one saying it does not exist", err)
	}
}

func TestLoadTrimsNewline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t")
	want := strings.Repeat("ab", 20)
	if err := os.WriteFile(p, []byte(want+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil || got != want {
		t.Fatalf("Load = %q, %v; want %q", got, err, want)
	}
}

// A reader that hands out one byte per Read (as pipes and network mounts
// may) still yields the whole token, and the size bound still holds.
func TestReadShortReads(t *testing.T) {
	want := strings.Repeat("cd", 20)
	got, err := Read(iotest.OneByteReader(strings.NewReader(want+"\n")), "t")
	if err != nil || got != want {
		t.Fatalf("read = %q, %v; want %q", got, err, want)
	}
	if _, err := Read(iotest.OneByteReader(strings.NewReader(strings.Repeat("x", maxLen+1))), "t"); err == nil ||
		!strings.Contains(err.Error(), "longer than") {
		t.Fatalf("oversized token: err = %v", err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	got, ok := FromHeader(Header("secret-token"))
	if !ok || !Equal(got, "secret-token") {
		t.Fatalf("FromHeader(%q) = %q, %v", Header("secret-token"), got, ok)
	}
	for _, bad := range []string{"", "Bearer ", "Basic abc", "secret-token"} {
		if _, ok := FromHeader(bad); ok {
			t.Errorf("FromHeader(%q) accepted", bad)
		}
	}
	if Equal("a", "b") || Equal("abc", "ab") {
		t.Error("Equal accepted different tokens")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(strings.Repeat("a", 64))
	f.Add(" \n")
	f.Add(strings.Repeat("x", 31))
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			return
		}
		if len(tok) < minLen || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("Parse accepted %q", tok)
		}
	})
}
