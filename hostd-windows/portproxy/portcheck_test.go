package portproxy

import (
	"net"
	"net/netip"
	"testing"
)

// TestTryListenOneFamily: portproxy listens on one family per entry, so
// a port held on the other family only is free for it. A dual-stack probe
// would read it as taken.
func TestTryListenOneFamily(t *testing.T) {
	for _, tc := range []struct{ holdNet, hold, probe string }{
		{"tcp6", "::", "0.0.0.0"},
		{"tcp4", "0.0.0.0", "::"},
	} {
		l, err := net.Listen(tc.holdNet, net.JoinHostPort(tc.hold, "0"))
		if err != nil {
			t.Skipf("cannot listen on %s here (%v): this host has no such family", tc.hold, err)
		}
		port := l.Addr().(*net.TCPAddr).AddrPort().Port()
		probe := netip.AddrPortFrom(netip.MustParseAddr(tc.probe), port)
		if err := TryListen(probe); err != nil {
			t.Errorf("TryListen(%v) with only %s:%d held: %v", probe, tc.holdNet, port, err)
		}
		held := netip.AddrPortFrom(netip.MustParseAddr(tc.hold), port)
		if err := TryListen(held); err == nil {
			t.Errorf("TryListen(%v) on the held port succeeded", held)
		}
		l.Close()
	}
}
