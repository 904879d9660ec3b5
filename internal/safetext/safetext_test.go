package safetext

import (
	"strings"
	"testing"
)

func TestRune(t *testing.T) {
	for in, want := range map[string]string{
		"nginx: worker":       "nginx: worker",
		"naïve 名前":            "naïve 名前",
		"\x1b[31mred\x07":     "?[31mred?",
		"tab\tnew\nline\x00":  "tab?new?line?",
		"bad \xff\xfe bytes":  "bad ?? bytes",
		"\u202eright-to-left": "?right-to-left",
	} {
		if got := strings.Map(Rune, in); got != want {
			t.Errorf("strings.Map(Rune, %q) = %q, want %q", in, got, want)
		}
	}
}

// The writer passes text, newlines and tabs, replaces every other control
// character, and keeps a rune split across writes whole.
func TestWriter(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	for _, p := range []string{"ok\tcol\n", "\x1b]0;pwn\x07", "\x1b[2J\r", "na\xc3", "\xafve 名\xe5\x90", "\x8d\n", "bad \xff\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got, want := b.String(), "ok\tcol\n?]0;pwn??[2J?naïve 名名\n"+"bad ?\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}
