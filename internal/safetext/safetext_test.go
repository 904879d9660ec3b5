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
