package engine

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

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
