package powershell

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// wildcard compiles a PowerShell wildcard pattern, as -like and the
// cmdlets' wildcard filters read it (WildcardPattern, ignoring case): *
// is any run of characters, ? any one, [...] one of a set of characters
// and ranges (no negation), and ` makes the next character plain. An
// unclosed [ or a range that runs backwards makes the pattern invalid.
func wildcard(pattern string) (*regexp.Regexp, error) {
	if pattern == "`" {
		pattern = "" // as Windows 7 read it, and PowerShell still does
	}
	var b strings.Builder
	b.WriteString(`(?is)^`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '`' && i+1 < len(rs):
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case c == '*':
			b.WriteString(`.*`)
		case c == '?':
			b.WriteString(`.`)
		case c == '[':
			set, n, err := bracket(rs[i+1:])
			if err != nil {
				return nil, fmt.Errorf("wildcard pattern %q: %w", pattern, err)
			}
			b.WriteString(set)
			i += n
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	return regexp.Compile(b.String())
}

// bracket reads a set, after its [, up to the ] that closes it: a ] first
// or after ` is a member, and an unescaped - between two members makes a
// range. It returns the set as a regexp class and how many runes it read.
func bracket(rs []rune) (class string, n int, err error) {
	var members []rune
	var dash []bool // members[i] is a range's -
	escaped := false
	for i, c := range rs {
		if c == ']' && i > 0 && !escaped {
			class, err := classOf(members, dash)
			return class, i + 1, err
		}
		if c != '`' || escaped {
			members = append(members, c)
			dash = append(dash, c == '-' && !escaped)
		}
		escaped = c == '`' && !escaped
	}
	return "", 0, errors.New("unclosed [")
}

// classOf renders a set's members as a regexp class, every character by
// its code point.
func classOf(members []rune, dash []bool) (string, error) {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < len(members); i++ {
		if i+2 < len(members) && dash[i+1] {
			lo, hi := members[i], members[i+2]
			if lo > hi {
				return "", fmt.Errorf("range %c-%c runs backwards", lo, hi)
			}
			fmt.Fprintf(&b, `\x{%x}-\x{%x}`, lo, hi)
			i += 2
			continue
		}
		fmt.Fprintf(&b, `\x{%x}`, members[i])
	}
	b.WriteByte(']')
	return b.String(), nil
}
