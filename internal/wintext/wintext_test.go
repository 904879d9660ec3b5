package wintext

import (
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestDecode(t *testing.T) {
	const text = "  NAME      STATE    VERSION\r\n* Ubuntu    Running  2\r\n  Débian    Stopped  1\r\n"
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"utf16le with bom", utf16le(text, true), text},
		{"utf16le without bom", utf16le(text, false), text},
		{"utf8", []byte(text), text},
		{"utf8 with bom", append([]byte{0xEF, 0xBB, 0xBF}, text...), text},
		{"empty", nil, ""},
		{"invalid utf8 replaced", []byte("a\xffb"), "a\uFFFDb"},
		{"odd utf16 tail", append(utf16le("ab", true), 'c'), "ab\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decode(tt.in); got != tt.want {
				t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(utf16le("* Ubuntu Running 2\r\n", true))
	f.Add(utf16le("* Ubuntu Running 2\r\n", false))
	f.Add([]byte("plain text\n"))
	f.Add([]byte{0xFF, 0xFE, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s := Decode(b); !utf8.ValidString(s) {
			t.Fatalf("Decode(%q) returned invalid UTF-8 %q", b, s)
		}
	})
}
