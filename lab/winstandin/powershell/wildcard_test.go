package powershell

import "testing"

// TestWildcard: patterns match as PowerShell's WildcardPattern does,
// ignoring case.
func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"wslfwd *", "wslfwd tcp/80", true},
		{"wslfwd *", "WSLFWD tcp/80", true},
		{"wslfwd *", "wslfwd ", true},
		{"wslfwd *", "wslfwdtcp/80", false},
		{"wslfwd *", "my wslfwd tcp/80", false},
		{"wslfwd ???/80", "wslfwd udp/80", true},
		{"wslfwd ???/80", "wslfwd tcp/8080", false},
		{"wslfwd [tu]cp/*", "wslfwd ucp/1", true},
		{"wslfwd [tu]cp/*", "wslfwd xcp/1", false},
		{"port [0-9]", "port 7", true},
		{"port [0-9]", "port x", false},
		{"[A-C]", "b", true},
		{"[!a]", "!", true}, // no negation: ! is a member
		{"[!a]", "b", false},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"a.b", "axb", false},
		{"a+", "aa", false},
		{"`*", "*", true},
		{"`*", "x", false},
		{"`[a]", "[a]", true},
		{"[`]]", "]", true},
		{"a`", "a`", true},
		{"`", "", true},
		{"*", "", true},
	} {
		re, err := wildcard(tc.pattern)
		if err != nil {
			t.Errorf("wildcard(%q): %v", tc.pattern, err)
			continue
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("%q -like %q = %v, want %v", tc.name, tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{"wslfwd [a", "[", "[z-a]", "[]"} {
		if _, err := wildcard(bad); err == nil {
			t.Errorf("wildcard(%q) is valid, want an invalid pattern", bad)
		}
	}
}
