// Package oem writes the stand-ins' output the way Windows console tools
// write theirs: in the OEM code page, not UTF-8, so that a caller that
// decodes it as UTF-8 shows its bug on any non-ASCII text.
package oem

import (
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// byCodePage are the OEM code pages the stand-ins can write.
var byCodePage = map[uint32]*charmap.Charmap{
	437: charmap.CodePage437,
	850: charmap.CodePage850,
	852: charmap.CodePage852,
	866: charmap.CodePage866,
}

// Encode renders s in code page cp (437 when cp is not one the stand-ins
// know); a character the page lacks becomes a substitute, as on Windows.
func Encode(s string, cp uint32) []byte {
	cm, ok := byCodePage[cp]
	if !ok {
		cm = charmap.CodePage437
	}
	b, err := encoding.ReplaceUnsupported(cm.NewEncoder()).Bytes([]byte(s))
	if err != nil {
		return []byte(s) // cannot happen with ReplaceUnsupported
	}
	return b
}
