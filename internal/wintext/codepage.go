package wintext

import (
	"bytes"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// UTF8CodePage is Windows' number for UTF-8 as a code page.
const UTF8CodePage = 65001

// codePages are the console (OEM) and ANSI code pages Windows uses for
// its languages, by number.
var codePages = map[uint32]encoding.Encoding{
	437: charmap.CodePage437, 850: charmap.CodePage850, 852: charmap.CodePage852,
	855: charmap.CodePage855, 858: charmap.CodePage858, 860: charmap.CodePage860,
	862: charmap.CodePage862, 863: charmap.CodePage863, 865: charmap.CodePage865,
	866: charmap.CodePage866, 874: charmap.Windows874,
	932: japanese.ShiftJIS, 936: simplifiedchinese.GBK, 949: korean.EUCKR, 950: traditionalchinese.Big5,
	1250: charmap.Windows1250, 1251: charmap.Windows1251, 1252: charmap.Windows1252,
	1253: charmap.Windows1253, 1254: charmap.Windows1254, 1255: charmap.Windows1255,
	1256: charmap.Windows1256, 1257: charmap.Windows1257, 1258: charmap.Windows1258,
	20866: charmap.KOI8R, 21866: charmap.KOI8U, 28591: charmap.ISO8859_1,
}

// DecodeCodePage returns a console tool's output as a Go string. netsh and
// PowerShell write to a pipe in the console's code page (an OEM code page
// such as 437, 850, 866 or 932), not UTF-8. UTF-16LE and byte order marks
// are recognised first, as by Decode; cp 0 (unknown), UTF8CodePage and a
// code page not known here read as UTF-8, with invalid bytes replaced.
func DecodeCodePage(b []byte, cp uint32) string {
	enc, ok := codePages[cp]
	if !ok || bytes.HasPrefix(b, bomUTF8) || bytes.HasPrefix(b, bomUTF16LE) || looksUTF16LE(b) {
		return Decode(b)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return Decode(b) // not text of that code page; keep what can be read
	}
	return toValidUTF8(out)
}
