package oem

import (
	"bytes"
	"testing"
)

func TestEncode(t *testing.T) {
	if got := Encode("Escuchar en ipv4: é", 850); !bytes.Equal(got, []byte("Escuchar en ipv4: \x82")) {
		t.Errorf("850: %q", got)
	}
	if got := Encode("Ok.", 0); string(got) != "Ok." {
		t.Errorf("ASCII: %q", got)
	}
	if got := Encode("→", 437); string(got) != "\x1a" {
		t.Errorf("unsupported character: %q", got)
	}
}
