package wire

import (
	"slices"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
	"github.com/wslfwd/wslfwd/hostd-windows/backend"
)

func TestProtocolRoundTrip(t *testing.T) {
	for _, p := range []backend.Protocol{backend.TCP, backend.UDP} {
		if got, ok := ProtocolFromProto(ProtocolToProto(p)); !ok || got != p {
			t.Errorf("%s: round trip gives %q, %v", p, got, ok)
		}
	}
	if _, ok := ProtocolFromProto(wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED); ok {
		t.Error("UNSPECIFIED converted")
	}
	if _, ok := ProtocolFromProto(9); ok {
		t.Error("an unknown protocol converted")
	}
	if got := ProtocolToProto("sctp"); got != wslfwdv1.Protocol_PROTOCOL_UNSPECIFIED {
		t.Errorf("sctp: %v", got)
	}
}

func TestCompareListeners(t *testing.T) {
	l := func(p wslfwdv1.Protocol, port uint32, listen string, inode uint64) *wslfwdv1.Listener {
		return &wslfwdv1.Listener{Protocol: p, Port: port, Listen: listen, Inode: inode}
	}
	tcp, udp := wslfwdv1.Protocol_PROTOCOL_TCP, wslfwdv1.Protocol_PROTOCOL_UDP
	want := []*wslfwdv1.Listener{
		l(tcp, 22, "0.0.0.0", 1), l(tcp, 80, "0.0.0.0", 9), l(tcp, 80, "::", 2), l(tcp, 80, "::", 3), l(udp, 53, "0.0.0.0", 1),
	}
	got := []*wslfwdv1.Listener{want[4], want[3], want[1], want[0], want[2]}
	slices.SortFunc(got, CompareListeners)
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %v, want %v", got, want)
	}
}
