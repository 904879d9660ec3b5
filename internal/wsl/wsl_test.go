package wsl

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
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

// What `wsl.exe -l --running -q` prints, as it arrives.
func TestParseNames(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want DistroList
	}{
		{"utf16le with bom", utf16le("Ubuntu-22.04\r\ndocker-desktop\r\n", true),
			DistroList{Names: []string{"Ubuntu-22.04", "docker-desktop"}}},
		{"utf16le without bom", utf16le("Ubuntu\r\n", false), DistroList{Names: []string{"Ubuntu"}}},
		{"utf8 (WSL_UTF8=1), lf, blank lines", []byte("Debian\n\nkali-linux\n"), DistroList{Names: []string{"Debian", "kali-linux"}}},
		{"none running, english", utf16le("There are no running distributions.\r\n", false),
			DistroList{Said: "There are no running distributions."}},
		{"none running, german", utf16le("Es werden keine Distributionen ausgeführt.\r\n", true),
			DistroList{Said: "Es werden keine Distributionen ausgeführt."}},
		{"not installed", utf16le("Windows Subsystem for Linux has no installed distributions.\r\nhttps://aka.ms/wslstore\r\n", false),
			DistroList{Names: nil, Said: "Windows Subsystem for Linux has no installed distributions. https://aka.ms/wslstore"}},
		{"nothing", nil, DistroList{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseNames(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Whatever arrives, a name never holds a space, a path separator or a
// quote: names go on command lines (wsl.exe -d NAME).
func FuzzParseNames(f *testing.F) {
	f.Add(utf16le("Ubuntu\r\nDebian\r\n", true))
	f.Add([]byte("There are no running distributions.\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, n := range ParseNames(b).Names {
			if n == "" || strings.ContainsAny(n, " \t\r\n\\/\"'") {
				t.Fatalf("bad name %q from %q", n, b)
			}
		}
	})
}
