package winexec

import (
	"strings"
	"testing"
)

func TestSaid(t *testing.T) {
	for _, tc := range []struct {
		out  string
		max  int
		want string
	}{
		{"", 10, "(nothing)"},
		{" \r\n", 10, "(nothing)"},
		{"Ok.\r\n", 10, `"Ok."`},
		{"abcdef", 3, `"abc…"`},
		{"aéb", 2, `"a…"`}, // é is two bytes: not split
	} {
		if got := Said([]byte(tc.out), tc.max); got != tc.want {
			t.Errorf("Said(%q, %d) = %s, want %s", tc.out, tc.max, got, tc.want)
		}
	}
	if got := Said([]byte(strings.Repeat("x", 5000)), 2048); len(got) > 2048+len(`""…`) {
		t.Errorf("Said did not bound a long output: %d bytes", len(got))
	}
}
