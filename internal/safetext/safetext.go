// Package safetext makes text that others wrote safe to keep and to show:
// a process's name (any process may name itself anything), a refusal's
// reason that quotes what an agent sent, a table cell the CLI prints.
// Such text reaches terminals, which take control characters for
// commands, and protobuf strings, which must be UTF-8.
package safetext

import (
	"unicode"
	"unicode/utf8"
)

// Rune returns r, or '?' when r is not printable (unicode.IsPrint) or is
// utf8.RuneError, which is how ranging over a string, strings.Map and
// strings.ToValidUTF8 hand on bytes that are not UTF-8.
func Rune(r rune) rune {
	if r == utf8.RuneError || !unicode.IsPrint(r) {
		return '?'
	}
	return r
}
