// Package wintext decodes the text that Windows tools print or that users
// paste from them. The same output reaches us as UTF-16LE with a byte order
// mark (PowerShell's `>` redirection), UTF-16LE without one (wsl.exe), or
// UTF-8 with or without a BOM (cmd.exe, WSL_UTF8=1, a copy from a browser).
package wintext

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
)

// Decode returns b as a Go string. UTF-16LE is recognised by its byte order
// mark or, without one, by NUL high bytes in ASCII text; anything else is
// taken as UTF-8, with invalid bytes replaced. Line endings are left alone.
func Decode(b []byte) string {
	switch {
	case bytes.HasPrefix(b, bomUTF8):
		return toValidUTF8(b[len(bomUTF8):])
	case bytes.HasPrefix(b, bomUTF16LE):
		return decodeUTF16LE(b[len(bomUTF16LE):])
	case looksUTF16LE(b):
		return decodeUTF16LE(b)
	}
	return toValidUTF8(b)
}

// looksUTF16LE reports whether b reads as UTF-16LE text without a BOM: an
// even length and a NUL in most odd positions, as ASCII text in UTF-16LE has.
// UTF-8 text never contains NUL bytes.
func looksUTF16LE(b []byte) bool {
	if len(b) < 2 || len(b)%2 != 0 {
		return false
	}
	nuls := 0
	for i := 1; i < len(b); i += 2 {
		if b[i] == 0 {
			nuls++
		}
	}
	return nuls*2 >= len(b)/2
}

func decodeUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	s := string(utf16.Decode(u))
	if len(b)%2 != 0 {
		s += string(utf8.RuneError)
	}
	return s
}

func toValidUTF8(b []byte) string {
	return string(bytes.ToValidUTF8(b, []byte(string(utf8.RuneError))))
}
