package netproto

import (
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestNameParseRoundTrip(t *testing.T) {
	for _, p := range []wslfwdv1.Protocol{wslfwdv1.Protocol_PROTOCOL_TCP, wslfwdv1.Protocol_PROTOCOL_UDP} {
		got, err := Parse(Name(p))
		if err != nil || got != p {
			t.Errorf("Parse(Name(%v)) = %v, %v", p, got, err)
		}
	}
	if got, err := Parse("UDP"); err != nil || got != wslfwdv1.Protocol_PROTOCOL_UDP {
		t.Errorf(`Parse("UDP") = %v, %v, want UDP: case does not matter`, got, err)
	}
}

func TestNameOfOtherValuesIsEmpty(t *testing.T) {
	for _, p := range []wslfwdv1.Protocol{wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED, 99} {
		if got := Name(p); got != "" {
			t.Errorf("Name(%v) = %q, want empty", p, got)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{"", "sctp", "tcp ", "tcp6"} {
		if p, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, p)
		}
	}
	if _, err := Parse("sctp"); err == nil || err.Error() != `"sctp" is not "tcp" or "udp"` {
		t.Errorf(`Parse("sctp") error = %v`, err)
	}
}
