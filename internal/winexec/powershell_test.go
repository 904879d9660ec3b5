package winexec

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestPowerShellArgsEncodeUTF16LE(t *testing.T) {
	args := PowerShellArgs("Write-Output 'é'")
	raw, err := base64.StdEncoding.DecodeString(args[len(args)-1])
	if err != nil {
		t.Fatal(err)
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	if got := string(utf16.Decode(u)); got != "Write-Output 'é'" {
		t.Errorf("decoded script = %q", got)
	}
}

// TestPowerShellFits: the encoded script is 8/3 as long as the script, so
// about 12,000 characters is the most one command line takes.
func TestPowerShellFits(t *testing.T) {
	if !PowerShellFits(strings.Repeat("x", 12000)) {
		t.Error("a 12,000-character script does not fit")
	}
	if PowerShellFits(strings.Repeat("x", 12300)) {
		t.Error("a 12,300-character script fits, but encoded it passes 32,767 characters")
	}
}
