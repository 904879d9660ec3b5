package wintext

import (
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// netsh on a localised Windows writes its messages in the console's OEM
// code page; read as UTF-8 they turn into replacement characters.
func TestDecodeCodePage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		cp   uint32
		enc  encoding.Encoding
	}{
		{"spanish cp850", "Escuchar en ipv4:             Conectar a ipv4:\r\nDirección", 850, charmap.CodePage850},
		{"russian cp866", "Прослушивать ipv4:", 866, charmap.CodePage866},
		{"japanese cp932", "指定されたファイルが見つかりません。", 932, japanese.ShiftJIS},
		{"german cp437", "Übernehmen", 437, charmap.CodePage437},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.enc.NewEncoder().Bytes([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := DecodeCodePage(raw, tt.cp); got != tt.in {
				t.Errorf("DecodeCodePage(%q, %d) = %q, want %q", raw, tt.cp, got, tt.in)
			}
		})
	}
	for _, cp := range []uint32{0, UTF8CodePage, 12345} {
		if got := DecodeCodePage([]byte("Dirección"), cp); got != "Dirección" {
			t.Errorf("DecodeCodePage(utf-8, %d) = %q", cp, got)
		}
	}
	if got := DecodeCodePage(utf16le("Ok.", true), 850); got != "Ok." {
		t.Errorf("UTF-16LE with a BOM under cp850 = %q", got)
	}
}
