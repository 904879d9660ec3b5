package winsvc

import "testing"

// The DACLs are what install asks Windows for; TestSDDL (Windows) checks
// that they parse as meant.
func TestTokenDACLs(t *testing.T) {
	for name, c := range map[string]struct{ got, want string }{
		"admin and agent tokens": {FileSDDL, "D:P(A;;FA;;;SY)(A;;FA;;;BA)"},
		"read token":             {ReadableFileSDDL, "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)"},
	} {
		if c.got != c.want {
			t.Errorf("%s: DACL %s, want %s", name, c.got, c.want)
		}
	}
}
