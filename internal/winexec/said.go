package winexec

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Said quotes a tool's output for an error message, at most max bytes of
// it. The output is evidence for a person reading the error, never a
// verdict (the read-back is), and netsh can print pages, so it is bounded;
// the cut falls on a character boundary.
func Said(out []byte, max int) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return "(nothing)"
	}
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}
