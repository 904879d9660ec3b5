package daemon

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	wslfwdv1 "github.com/wslfwd/wslfwd/gen/wslfwd/v1"
)

// Expose refuses a host side no forward can have, with InvalidArgument
// and the reason, and saves nothing; the unspecified and the host's own
// addresses are accepted.
func TestExposeRefusesImpossibleHostSide(t *testing.T) {
	h := startHarness(t, harnessOptions{backend: newFakeBackend()})
	a := h.connect(t, "Ubuntu")
	a.snapshot()
	ownPort := uint32(netip.MustParseAddrPort(h.addr).Port())
	for name, tc := range map[string]struct {
		req  *wslfwdv1.ExposeRequest
		want string
	}{
		"foreign address": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "192.0.2.99"},
			"listen_address 192.0.2.99: the host has no such address (it has "},
		"broadcast": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "255.255.255.255"},
			"listen_address 255.255.255.255: a broadcast address is not one a forward can listen on"},
		"multicast": {&wslfwdv1.ExposeRequest{Port: 80, ListenAddress: "ff02::1"},
			"listen_address ff02::1: a multicast address"},
		"own port": {&wslfwdv1.ExposeRequest{Port: ownPort},
			"is the daemon's own port"},
		"own port as host port": {&wslfwdv1.ExposeRequest{Port: 80, HostPort: ownPort},
			"is the daemon's own port"},
		"deny list": {&wslfwdv1.ExposeRequest{Port: 80, HostPort: 445},
			"host port 445 is in the daemon's deny list (deny_ports)"},
	} {
		_, err := h.control.Expose(testCtx(t), tc.req)
		if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || !strings.Contains(s.Message(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument with %q", name, err, tc.want)
		}
	}
	if fw := h.forwards(t, true); len(fw) != 0 {
		t.Fatalf("refused exposes left forwards: %v", fw)
	}
	for i, addr := range []string{"0.0.0.0", "::", "127.0.0.1"} {
		if _, err := h.control.Expose(testCtx(t), &wslfwdv1.ExposeRequest{Port: uint32(3000 + i), ListenAddress: addr}); err != nil {
			t.Errorf("listen address %s refused: %v", addr, err)
		}
	}
}

func TestCheckListenAddr(t *testing.T) {
	host := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("10.2.3.1").To4(), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("fd00::1"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	for _, ok := range []string{"10.2.3.1", "fd00::1", "0.0.0.0", "::"} {
		if err := checkListenAddr(netip.MustParseAddr(ok), host); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"10.2.3.2":        "no such address (it has 10.2.3.1, fd00::1)",
		"255.255.255.255": "broadcast",
		"224.0.0.1":       "multicast",
	} {
		if err := checkListenAddr(netip.MustParseAddr(in), host); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", in, err, want)
		}
	}
	failing := func() ([]net.Addr, error) { return nil, errors.New("no netlink") }
	if err := checkListenAddr(netip.MustParseAddr("10.2.3.1"), failing); err == nil || !strings.Contains(err.Error(), "no netlink") {
		t.Errorf("a failed lookup: %v, want it reported", err)
	}
}
