// Package safetext makes text that others wrote safe to keep and to show:
// a process's name (any process may name itself anything), a refusal's
// reason that quotes what an agent sent, a table cell the CLI prints.
// Such text reaches terminals, which take control characters for
// commands, and protobuf strings, which must be UTF-8.
package safetext

import (
	"io"
	"sync"
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

// NewWriter returns a writer that writes to w what it is given with every
// rune that Rune would replace replaced, except newline and tab: the
// writer a program prints through when what it prints may quote others
// (a daemon's messages, an agent's reasons), so that no path to the
// terminal depends on each value having been cleaned where it was
// printed. A rune split across writes is held until it is whole. It is
// safe for concurrent use.
func NewWriter(w io.Writer) io.Writer { return &writer{w: w} }

type writer struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte // the start of a rune the last write ended in
	out  []byte
}

func (sw *writer) Write(p []byte) (int, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	b := p
	if len(sw.tail) > 0 {
		b = append(sw.tail, p...)
		sw.tail = nil
	}
	sw.out = sw.out[:0]
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && !utf8.FullRune(b) {
			sw.tail = append([]byte(nil), b...)
			break
		}
		if r != '\n' && r != '\t' {
			r = Rune(r)
		}
		sw.out = utf8.AppendRune(sw.out, r)
		b = b[size:]
	}
	if _, err := sw.w.Write(sw.out); err != nil {
		return 0, err
	}
	return len(p), nil
}
