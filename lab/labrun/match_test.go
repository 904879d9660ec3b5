//go:build linux

package labrun

import (
	"net/netip"
	"testing"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

func TestMatch(t *testing.T) {
	f := &wslfwdv1.Forward{
		Protocol:       wslfwdv1.Protocol_PROTOCOL_TCP,
		ListenPort:     8080,
		State:          wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE,
		ConnectAddress: "172.28.240.53",
		Distro:         "Ubuntu",
	}
	wsl := netip.MustParseAddr("172.28.240.53")
	for _, c := range []struct {
		m    Match
		want bool
	}{
		{Match{}, true},
		{Match{Protocol: wslfwdv1.Protocol_PROTOCOL_TCP, Port: 8080, State: wslfwdv1.ForwardState_FORWARD_STATE_ACTIVE, Connect: wsl}, true},
		{Match{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP}, false},
		{Match{Port: 8081}, false},
		{Match{State: wslfwdv1.ForwardState_FORWARD_STATE_BLOCKED}, false},
		{Match{Connect: netip.MustParseAddr("172.28.240.54")}, false},
		{Match{Distro: "Ubuntu"}, true},
		{Match{Distro: "Debian"}, false},
	} {
		if got := c.m.matches(f); got != c.want {
			t.Errorf("%s matches %v = %v, want %v", c.m, f, got, c.want)
		}
	}
	if got, want := (Match{Protocol: wslfwdv1.Protocol_PROTOCOL_UDP, Port: 53, Connect: wsl, Distro: "Debian"}).String(), "udp, port 53, → 172.28.240.53, distro Debian"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
